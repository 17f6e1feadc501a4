#!/usr/bin/python3
"""Turns an openspf YAML suite into lines for src/spf/spf_suite_test.c.

The .yml stays as it is (../shared/conformance/spf/); this only re-encodes
it, applying the stub-zone rules of ../shared/conformance/README.md 1.2
(SPF->TXT copying, TXT: NONE, TIMEOUT). Output, one item per line, fields
separated by one space, every free-text field hex-encoded after an "x":

  S xDESCRIPTION                       a new scenario (fresh zone)
  N xNAME                              the name exists
  R xNAME TYPE xVALUE                  a record (TXT value: strings joined)
  M xNAME PREF xEXCHANGE               an MX record
  O xNAME                              other types time out
  T ID xHOST xMAILFROM xHELO RESULTS xEXPLANATION|-
                                       RESULTS: comma-separated, preferred
                                       first
Usage: yml2zone.py [--no-copy] FILE.yml
  --no-copy  leaves out the SPF->TXT copying, to show that the harness
             notices (README 1.3: pyspf then passes 20 of 203).
"""
import sys

import yaml


def hx(v):
    if isinstance(v, str):
        v = v.encode('utf-8')
    return 'x' + v.hex()


def as_strings(value):
    if isinstance(value, str):
        return [value]
    if value is None:
        return []
    return [str(v) for v in value]


def main():
    out = sys.stdout
    args = sys.argv[1:]
    copy = True
    if args and args[0] == '--no-copy':
        copy = False
        args = args[1:]
    with open(args[0], encoding='utf-8') as f:
        docs = list(yaml.safe_load_all(f))
    for doc in docs:
        if not doc:
            continue
        out.write('S %s\n' % hx(doc.get('description', '')))
        for name, items in (doc.get('zonedata') or {}).items():
            key = str(name).rstrip('.').lower()
            items = items or []
            has_txt = any(isinstance(i, dict) and 'TXT' in i for i in items)
            out.write('N %s\n' % hx(key))
            for item in items:
                if item == 'TIMEOUT':
                    out.write('O %s\n' % hx(key))
                    continue
                ((rtype, value),) = item.items()
                if rtype in ('TXT', 'SPF'):
                    strings = as_strings(value)
                    if strings == ['NONE']:
                        continue
                    data = ''.join(strings)
                    out.write('R %s %s %s\n' % (hx(key), rtype, hx(data)))
                    if rtype == 'SPF' and not has_txt and copy:
                        out.write('R %s TXT %s\n' % (hx(key), hx(data)))
                elif rtype == 'MX':
                    out.write('M %s %d %s\n' % (hx(key), int(value[0]),
                                                hx(str(value[1]))))
                else:
                    out.write('R %s %s %s\n' % (hx(key), rtype,
                                                hx(str(value))))
        for tid, t in (doc.get('tests') or {}).items():
            res = t['result']
            res = res if isinstance(res, list) else [res]
            exp = t.get('explanation')
            out.write('T %s %s %s %s %s %s\n' % (
                tid, hx(str(t['host'])), hx(t.get('mailfrom') or ''),
                hx(t.get('helo') or ''), ','.join(res),
                '-' if exp is None else hx(exp)))


main()
