"""DKIM interoperability: messages signed at test time by Debian's dkimpy
(python3-dkim) and by OpenDKIM (opendkim -t), verified by `mxgate dkim`.

Keys are made fresh for each run (RSA 2048 and Ed25519) and reach mxgate
through --keys (zone-like lines, no DNS). Every message is then changed in
transit in ways relaxed canonicalisation tolerates and in ways it does not;
each verdict is checked against the rule and against dkimpy's own verify of
the same bytes, so a disagreement with the reference shows up as such.
OpenDKIM 2.11 signs ed25519-sha256 too, so both signers cover both
algorithms and all four canonicalisation pairs.
"""
import base64
import os
import re
import shutil
import subprocess

import dkim
import pytest

BIN = os.environ.get("MXGATE_BIN", "build/mxgate")
DOMAIN = b"example.com"

HEADERS = (
    b"Received: from relay.example.net by mx.example.org;\r\n"
    b"\tMon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"From: Joe SixPack <joe@example.com>\r\n"
    b"To: Suzie Q <suzie@example.org>\r\n"
    b"Subject: Is dinner  ready?\r\n"
    b"\tand\tmore  text \r\n"
    b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    b"Message-ID: <20240101000000.1@example.com>\r\n"
)
BODY = (
    b"Hi.\r\n"
    b"\r\n"
    b"We lost the game.  Are you hungry yet? \r\n"
    b"\tIndented\tline.\r\n"
    b"\r\n"
    b"Joe.\r\n"
)
MESSAGE = HEADERS + b"\r\n" + BODY

CANONS = ["simple/simple", "simple/relaxed", "relaxed/simple",
          "relaxed/relaxed"]
ALGS = ["rsa-sha256", "ed25519-sha256"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("dkimkeys")
    rsa = d / "rsa.pem"
    ed = d / "ed.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(rsa), "2048"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out",
                    str(ed)], check=True, capture_output=True)
    rsa_pub = subprocess.run(
        ["openssl", "pkey", "-in", str(rsa), "-pubout", "-outform", "DER"],
        check=True, capture_output=True).stdout
    ed_pub = subprocess.run(
        ["openssl", "pkey", "-in", str(ed), "-pubout", "-outform", "DER"],
        check=True, capture_output=True).stdout[-32:]
    ed_seed = subprocess.run(
        ["openssl", "pkey", "-in", str(ed), "-outform", "DER"],
        check=True, capture_output=True).stdout[-32:]
    records = {
        b"rsa._domainkey.example.com":
            b"v=DKIM1; k=rsa; p=" + base64.b64encode(rsa_pub),
        b"ed._domainkey.example.com":
            b"v=DKIM1; k=ed25519; p=" + base64.b64encode(ed_pub),
    }
    # Zone lines with the TXT data cut into 255-octet character-strings,
    # as DNS carries it.
    zone = d / "keys.zone"
    with open(zone, "w") as f:
        for name, rec in records.items():
            parts = [rec[i:i + 255].decode()
                     for i in range(0, len(rec), 255)]
            f.write("%s. IN TXT %s\n" % (
                name.decode(), " ".join('"%s"' % p for p in parts)))
    return {
        "dir": d, "zone": zone, "records": records,
        "rsa-sha256": (b"rsa", rsa.read_bytes(), rsa),
        "ed25519-sha256": (b"ed", base64.b64encode(ed_seed), ed),
    }


def dkimpy_sign(keys, msg, alg, canon, **kw):
    sel, priv, _ = keys[alg]
    c = tuple(x.encode() for x in canon.split("/"))
    sig = dkim.sign(msg, sel, DOMAIN, priv, canonicalize=c,
                    signature_algorithm=alg.encode(), **kw)
    return sig + msg


def opendkim_sign(keys, msg, alg, canon, oversign=False):
    if shutil.which("opendkim") is None:
        pytest.skip("opendkim not installed")
    sel, _, keyfile = keys[alg]
    d = keys["dir"]
    conf = d / ("sign-%s-%s.conf" % (alg, canon.replace("/", "-")))
    lines = [
        "Mode s", "Syslog no", "RequireSafeKeys false",
        "Domain example.com", "Selector %s" % sel.decode(),
        "KeyFile %s" % keyfile, "Canonicalization %s" % canon,
        "SignatureAlgorithm %s" % alg,
    ]
    if oversign:
        lines.append("OversignHeaders From")
    conf.write_text("\n".join(lines) + "\n")
    inp = d / "to-sign.eml"
    inp.write_bytes(msg)
    out = subprocess.run(["opendkim", "-x", str(conf), "-t", str(inp)],
                         check=True, capture_output=True).stdout
    # "opendkim: FILE:" then the DKIM-Signature field, LF line ends.
    # It keeps the input's CRs, so line ends come as CRLF or LF.
    field = out.split(b"\n", 1)[1].replace(b"\r\n", b"\n").rstrip(b"\n")
    assert field.startswith(b"DKIM-Signature:")
    return field.replace(b"\n", b"\r\n") + b"\r\n" + msg


SIGNERS = {"dkimpy": dkimpy_sign, "opendkim": opendkim_sign}


def mxgate(keys, msg):
    r = subprocess.run([BIN, "dkim", "--keys", str(keys["zone"]), "-"],
                       input=msg, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().splitlines()


def results(keys, msg):
    return [line.split()[0] for line in mxgate(keys, msg)]


def dkimpy_verify(keys, msg, idx=0):
    def dnsfunc(name, timeout=5):
        return keys["records"].get(name.rstrip(b"."))
    try:
        return dkim.DKIM(msg).verify(idx=idx, dnsfunc=dnsfunc)
    except dkim.DKIMException:
        # Some mismatches come out as exceptions rather than False.
        return False


def replace(msg, old, new):
    assert old in msg, old
    return msg.replace(old, new, 1)


# (name, edit, survives relaxed header?, relaxed body?, simple header?,
#  simple body?)
EDITS = [
    ("header whitespace",
     lambda m: replace(m, b"Is dinner  ready?", b"Is  dinner \t ready? "),
     True, None, False, None),
    ("header refolded",
     lambda m: replace(m, b"ready?\r\n\tand", b"ready? \r\n    and"),
     True, None, False, None),
    ("header name case",
     lambda m: replace(m, b"\r\nSubject:", b"\r\nSUBJECT:"),
     True, None, False, None),
    ("space before colon",
     lambda m: replace(m, b"\r\nSubject:", b"\r\nSubject :"),
     True, None, False, None),
    ("body whitespace",
     lambda m: replace(m, b"game.  Are", b"game. \t Are"),
     None, True, None, False),
    ("body trailing whitespace",
     lambda m: replace(m, b"Joe.\r\n", b"Joe.  \t\r\n"),
     None, True, None, False),
    ("body trailing blank lines",
     lambda m: m + b"\r\n\r\n",
     None, True, None, True),
    ("body word changed",
     lambda m: replace(m, b"We lost", b"We won"),
     None, False, None, False),
    ("signed header changed",
     lambda m: replace(m, b"To: Suzie Q", b"To: Mallory"),
     False, None, False, None),
    ("unsigned header added",
     lambda m: m.replace(b"\r\n\r\n", b"\r\nX-Spam: no\r\n\r\n", 1),
     True, None, True, None),
]


def expected(edit, canon):
    hc, bc = canon.split("/")
    _, _, rh, rb, sh, sb = edit
    h = rh if hc == "relaxed" else sh
    b = rb if bc == "relaxed" else sb
    return (h is not False) and (b is not False)


@pytest.mark.parametrize("signer", sorted(SIGNERS))
@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("canon", CANONS)
def test_sign_and_change_in_transit(keys, signer, alg, canon):
    signed = SIGNERS[signer](keys, MESSAGE, alg, canon)
    sel = keys[alg][0].decode()
    out = mxgate(keys, signed)
    if signer == "opendkim" and alg == "ed25519-sha256" and \
            canon.startswith("simple/"):
        # OpenDKIM 2.11 makes ed25519 signatures with simple header
        # canonicalisation that nobody verifies: not dkimpy, not OpenDKIM
        # itself (opendkim -t: "signature verification failed"). All
        # three agree it is a fail.
        assert [x.split()[0] for x in out] == ["fail"], out
        assert not dkimpy_verify(keys, signed)
        return
    assert out == ["pass d=example.com s=%s a=%s" % (sel, alg)]
    assert dkimpy_verify(keys, signed)
    for edit in EDITS:
        msg = edit[1](signed)
        want = expected(edit, canon)
        got = results(keys, msg)
        assert got == ["pass" if want else "fail"], (edit[0], got)
        # The reference agrees with the rule, and so with us - except
        # that dkimpy refuses RFC 5322 obsolete syntax (WSP before the
        # colon, 4.5.3) outright.
        if edit[0] != "space before colon":
            assert dkimpy_verify(keys, msg) == want, edit[0]


@pytest.mark.parametrize("alg", ALGS)
def test_body_length_limit(keys, alg):
    signed = dkimpy_sign(keys, MESSAGE, alg, "relaxed/relaxed", length=True)
    assert b" l=" in signed
    assert results(keys, signed) == ["pass"]
    # Content appended after l= is not signed: still a pass, and said so.
    appended = signed + b"Click here: http://example.net/\r\n"
    out = mxgate(keys, appended)
    assert out[0].startswith("pass ") and "l=" in out[0], out
    assert dkimpy_verify(keys, appended)
    # Inside the signed part, a change still breaks it.
    assert results(keys, replace(appended, b"We lost", b"We won")) == [
        "fail"]


@pytest.mark.parametrize("signer", sorted(SIGNERS))
def test_oversigned_from(keys, signer):
    if signer == "dkimpy":
        signed = dkimpy_sign(keys, MESSAGE, "rsa-sha256", "relaxed/relaxed",
                             include_headers=[b"from", b"from", b"to",
                                              b"subject", b"date"])
    else:
        signed = opendkim_sign(keys, MESSAGE, "rsa-sha256",
                               "relaxed/relaxed", oversign=True)
    h = re.search(rb"[;\s]h=([^;]*)", signed).group(1).lower()
    assert h.count(b"from") == 2, h
    assert results(keys, signed) == ["pass"]
    # A second From anywhere breaks it.
    forged = replace(signed, b"To: Suzie", b"From: evil@example.net\r\nTo: "
                     b"Suzie")
    assert results(keys, forged) == ["fail"]
    assert not dkimpy_verify(keys, forged)


def test_several_signatures(keys):
    # OpenDKIM rsa simple/simple first, dkimpy ed25519 relaxed on top of
    # it, dkimpy rsa relaxed/simple on top of both.
    m = opendkim_sign(keys, MESSAGE, "rsa-sha256", "simple/simple")
    m = dkimpy_sign(keys, m, "ed25519-sha256", "relaxed/relaxed")
    m = dkimpy_sign(keys, m, "rsa-sha256", "relaxed/simple")
    out = mxgate(keys, m)
    assert [line.split()[:4] for line in out] == [
        ["pass", "d=example.com", "s=rsa", "a=rsa-sha256"],
        ["pass", "d=example.com", "s=ed", "a=ed25519-sha256"],
        ["pass", "d=example.com", "s=rsa", "a=rsa-sha256"],
    ]
    # Body whitespace changed: only the relaxed body survives.
    changed = replace(m, b"game.  Are", b"game. Are")
    assert results(keys, changed) == ["fail", "pass", "fail"]
    assert [dkimpy_verify(keys, changed, i) for i in range(3)] == [
        False, True, False]


def test_opendkim_verifies_mxgate_expectations(keys, tmp_path):
    """OpenDKIM as verifier on a relaxed-tolerable change, as a third
    opinion next to dkimpy's: it passes where mxgate passes."""
    if shutil.which("opendkim") is None:
        pytest.skip("opendkim not installed")
    signed = dkimpy_sign(keys, MESSAGE, "ed25519-sha256", "relaxed/relaxed")
    msg = replace(signed, b"Is dinner  ready?", b"Is dinner ready?")
    tpk = tmp_path / "keys.txt"
    tpk.write_bytes(b"".join(n + b" " + r + b"\n"
                             for n, r in keys["records"].items()))
    conf = tmp_path / "v.conf"
    conf.write_text("Mode v\nSyslog no\nTestPublicKeys %s\n" % tpk)
    f = tmp_path / "m.eml"
    f.write_bytes(msg)
    r = subprocess.run(["opendkim", "-x", str(conf), "-vv", "-t", str(f)],
                       capture_output=True, timeout=60)
    assert b"succeeded" in r.stderr + r.stdout, r.stderr
    assert results(keys, msg) == ["pass"]
