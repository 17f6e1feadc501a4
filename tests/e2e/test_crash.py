"""Crash safety: SIGKILL the server at random moments while parallel
clients send, restart it, and prove that every message acknowledged with
250 is delivered (at least once; exactly once when nothing crashes), that
no partial message is ever visible in a Maildir's new/, and that a crash
never leaves an incomplete file in the queue.

Clients behave like real MTAs: a message that got no 250 (the connection
died) is sent again after the restart, so such a message may legitimately
arrive twice. A delivery cut between its rename into new/ and the DONE
record is repeated after the restart too (at least once); that can only
touch the deliveries in flight at each kill, and the test bounds it.
"""
import os
import queue
import random
import re
import smtplib
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mxgate import Mxgate  # noqa: E402

MESSAGES = 300
CLIENTS = 12
KILLS = 6
MAILBOXES = ["ann", "ben", "cat", "dan"]
# Deliveries in flight at a kill that may be repeated: src/deliver/deliver.c
# runs DELIVER_THREADS batches of DELIVER_BATCH messages at once.
DELIVER_IN_FLIGHT = 2 * 8
TRAILER = b"-- end of message "
MSGID = re.compile(rb"^Message-ID: <([^>]+)>", re.M | re.I)


def make_message(i, rng):
    """A message with a unique Message-ID, of 1 KiB to 200 KiB (so kills
    land while bodies stream, too), ending with a trailer naming it."""
    mid = f"crash-{i}@client.example.org"
    size = rng.choice([1024, 4096, 20 * 1024, 90 * 1024, 200 * 1024])
    line = (f"line of message {i} " * 4)[:76] + "\r\n"
    body = line * (size // len(line))
    text = (f"From: sender@client.example.org\r\n"
            f"To: someone@example.test\r\n"
            f"Subject: crash test {i}\r\n"
            f"Message-ID: <{mid}>\r\n\r\n{body}"
            f"{TRAILER.decode()}{mid}\r\n")
    rcpts = [f"{MAILBOXES[i % 4]}@example.test"]
    if i % 7 == 0:  # some go to two mailboxes: per-recipient state
        rcpts.append(f"{MAILBOXES[(i + 1) % 4]}@example.test")
    return mid, rcpts, text.encode()


def complete(data):
    """The Message-ID if data is one whole message as sent, else None."""
    m = MSGID.search(data)
    if not m:
        return None
    mid = m.group(1)
    if not data.endswith(TRAILER + mid + b"\n"):
        return None
    return mid.decode()


class Server:
    """mxgate that can be killed and restarted on a new port."""

    def __init__(self, tmp):
        # Two loops whatever the machine: messages are committed in both,
        # and the second loop's reach delivery through the first.
        self.mx = Mxgate(tmp, server={"loops": "2"}, sections={
            "connector loopback": {"from": "::1/128, 127.0.0.0/8"}})
        self.lock = threading.Lock()
        self.generation = 0
        self.addr = None

    def start(self):
        # Each run's log is kept, for the history of a message that stays.
        if self.mx.logfile.exists():
            self.mx.logfile.rename(f"{self.mx.logfile}.{self.generation}")
        self.mx.start(timeout=30)
        with self.lock:
            self.addr = self.mx.addr("::1")
            self.generation += 1

    def kill(self):
        with self.lock:
            self.addr = None
        self.mx.proc.kill()
        self.mx.proc.wait()
        self.mx._log.close()
        self.mx.proc = None

    def current(self):
        with self.lock:
            return self.addr


def client(server, work, acked, attempts, stop):
    while not stop.is_set():
        try:
            i, (mid, rcpts, data) = work.get(timeout=0.2)
        except queue.Empty:
            continue
        attempts[mid] = attempts.get(mid, 0) + 1
        addr = server.current()
        try:
            if addr is None:
                raise ConnectionError("server down")
            with smtplib.SMTP(addr[0], addr[1], timeout=15) as s:
                s.ehlo("client.example.org")
                refused = s.sendmail("sender@client.example.org", rcpts,
                                     data)
                assert not refused, refused
            acked[mid] = rcpts
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)
            work.put((i, (mid, rcpts, data)))
        finally:
            work.task_done()


def scan_new(maildir_root, seen, partial):
    """Reads every file in every new/; records whole messages by id and
    anything partial. Files may move to cur/ or vanish only by our hand,
    so a file that disappears while read is not expected either."""
    for new in maildir_root.glob("*/new"):
        for f in new.iterdir():
            key = (new.parent.name, f.name)
            if key in seen:
                continue
            data = f.read_bytes()
            mid = complete(data)
            if mid is None:
                partial.append((str(f), len(data)))
            else:
                seen[key] = mid


def queue_drains(server, stall=60, limit=300):
    """True once the queue is empty. False if no message has left it for
    stall seconds (stuck), or after limit seconds: a loaded machine gets
    time, a stuck message does not."""
    start = last_change = time.monotonic()
    left = server.mx.queued()
    while left:
        now = time.monotonic()
        if now - last_change > stall or now - start > limit:
            return False
        time.sleep(0.2)
        ids = server.mx.queued()
        if set(ids) != set(left):
            last_change = time.monotonic()
        left = ids
    return True


def stuck_history(server):
    """The log lines, of every run, that name a message still queued or
    warn, and how the last run is doing."""
    ids = server.mx.queued()
    logs = sorted(server.mx.logfile.parent.glob("mxgate.log*"),
                  key=lambda f: f.stat().st_mtime_ns)
    lines = [f"{f.name}: {line}" for f in logs
             for line in f.read_text(errors="replace").splitlines()
             if any(i in line for i in ids) or "warn" in line]
    tail = server.mx.log().splitlines()[-40:]
    return (f"queued: {ids}\nserver exit status: {server.mx.proc.poll()}\n"
            + "\n".join(lines[-200:]) + "\nlast log lines:\n"
            + "\n".join(tail))


def test_sigkill_loses_no_acknowledged_message(tmp_path):
    server = Server(tmp_path / "mx")
    server.start()
    try:
        crash_and_check(tmp_path, server)
    finally:
        if server.mx.proc is not None:
            server.kill()


def crash_and_check(tmp_path, server):
    rng = random.Random(int(os.environ.get("MXGATE_CRASH_SEED", "7")))
    maildir_root = tmp_path / "mx" / "mail" / "example.test"
    work = queue.Queue()
    for i in range(MESSAGES):
        work.put((i, make_message(i, rng)))
    acked, attempts, seen, partial = {}, {}, {}, []
    stop = threading.Event()
    threads = [threading.Thread(target=client,
                                args=(server, work, acked, attempts, stop))
               for _ in range(CLIENTS)]
    for t in threads:
        t.start()

    watching = threading.Event()

    def watch():
        while not watching.is_set():
            scan_new(maildir_root, seen, partial)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    kills = 0
    try:
        # Kills spread over the run, each at a random point of its stretch,
        # while sessions are in every phase (DATA, commit, delivery).
        for k in range(1, KILLS + 1):
            target = MESSAGES * (k - 1 + rng.random()) / KILLS
            deadline = time.monotonic() + 120
            while len(acked) < target and time.monotonic() < deadline:
                time.sleep(0.005)
            server.kill()
            kills += 1
            time.sleep(rng.uniform(0, 0.1))
            server.start()
        while work.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(acked) == MESSAGES, "not every message was acknowledged"

    # Recovery delivers whatever was queued at the last kill.
    assert queue_drains(server), \
        f"queue not drained:\n{stuck_history(server)}"
    assert not any((tmp_path / "mx" / "spool" / "quarantine").iterdir()), \
        "a crash left an incomplete queue file"
    watching.set()
    watcher.join()
    scan_new(maildir_root, seen, partial)
    assert partial == [], f"partial messages visible in new/: {partial}"

    copies = {}
    for (box, _), mid in seen.items():
        copies[(box, mid)] = copies.get((box, mid), 0) + 1
    for mid, rcpts in acked.items():
        for r in rcpts:
            box = r.split("@")[0]
            assert copies.get((box, mid), 0) >= 1, \
                f"acknowledged {mid} lost for {box}"
    # Duplicates: a message sent once has a second copy only if a kill
    # caught its delivery batch between rename and DONE record.
    unexplained = [(box, mid) for (box, mid), n in copies.items()
                   if n > 1 and attempts.get(mid, 0) == 1]
    # (copies: a message has up to two recipients)
    assert len(unexplained) <= KILLS * DELIVER_IN_FLIGHT * 2, unexplained
    print(f"crash: {MESSAGES} messages, {kills} kills, "
          f"{sum(1 for n in attempts.values() if n > 1)} resent, "
          f"{sum(n - 1 for n in copies.values())} duplicate copies, "
          f"{len(unexplained)} from deliveries cut by a kill")

    # The normal case: no crash, a clean stop and start: exactly once.
    for i in range(MESSAGES, MESSAGES + 40):
        mid, rcpts, data = make_message(i, rng)
        host, port = server.current()
        with smtplib.SMTP(host, port, timeout=15) as s:
            s.sendmail("sender@client.example.org", rcpts, data)
        acked[mid] = rcpts
    assert server.mx.stop() == 0
    server.start()
    assert server.mx.wait_queue_empty(timeout=60)
    assert server.mx.stop() == 0
    seen.clear()
    scan_new(maildir_root, seen, partial)
    assert partial == []
    ids = list(seen.values())
    for i in range(MESSAGES, MESSAGES + 40):
        mid, rcpts, _ = make_message(i, random.Random(0))
        for r in rcpts:
            box = r.split("@")[0]
            n = sum(1 for (b, _), m in seen.items() if b == box and m == mid)
            assert n == 1, f"{mid} in {box}: {n} copies"
    assert len(ids) >= MESSAGES + 40
