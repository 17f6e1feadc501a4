"""One plain SMTP session with every reply timed (blocking, no pipelining).

For probes that ask "how long did each step take while the server was busy
with something else": timed_session() sends EHLO, MAIL, RCPT, DATA and one
message, then QUIT, and returns the time to each reply in milliseconds.
"""

import socket
import time


def _reply(f):
    """One (possibly multi-line) reply -> code; raises on a bad line."""
    while True:
        line = f.readline(1024)
        if len(line) < 4 or not line[:3].isdigit():
            raise OSError(f"bad SMTP reply line {line!r}")
        if line[3:4] != b"-":
            return int(line[:3])


def _data(raw):
    lines = raw.replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")
    return b"".join((b"." + x if x.startswith(b".") else x) + b"\r\n"
                    for x in lines) + b".\r\n"


def timed_session(host, port, source, helo, mail_from, rcpt, message,
                  timeout=10.0):
    """{"banner_ms":..,"ehlo_ms":..,...,"max_ms":..,"ok":bool,"codes":[..]}"""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    out = {"codes": [], "ok": False}
    steps = [("ehlo", b"EHLO " + helo.encode() + b"\r\n", 250),
             ("mail", b"MAIL FROM:<" + mail_from.encode() + b">\r\n", 250),
             ("rcpt", b"RCPT TO:<" + rcpt.encode() + b">\r\n", 250),
             ("data", b"DATA\r\n", 354),
             ("eod", _data(message), 250)]
    try:
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if source:
                s.bind((source, 0))
            t0 = time.perf_counter()
            s.connect((host, port))
            f = s.makefile("rb")
            code = _reply(f)
            out["banner_ms"] = (time.perf_counter() - t0) * 1000
            out["codes"].append(code)
            if code != 220:
                return out
            for name, cmd, want in steps:
                t0 = time.perf_counter()
                s.sendall(cmd)
                code = _reply(f)
                out[name + "_ms"] = (time.perf_counter() - t0) * 1000
                out["codes"].append(code)
                if code != want:
                    return out
            s.sendall(b"QUIT\r\n")
            out["ok"] = True
    except OSError as e:
        out["error"] = str(e)
    finally:
        times = [v for k, v in out.items() if k.endswith("_ms")]
        out["max_ms"] = max(times) if times else None
    return out
