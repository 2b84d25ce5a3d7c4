"""A lock-protocol load client in a scripting language, for the bench's py-procs shape: one connection,
registered as its own owner, looping ACQUIRE_RESOURCE + RELEASE_RESOURCE on its own file with blocking
calls, the way a script using a lock daemon would. It sends exactly what bench/native/lock-client.c sends
(the same procedures, arguments and serials) and speaks the same control protocol, so the bench drives both
alike.

Usage: lock-client.py SOCKET FILE_PREFIX 1 ID_BASE
  The connection registers owner id ID_BASE (pid 0x7ffff000+ID_BASE, never a live process) and locks
  FILE_PREFIX<ID_BASE>.img in the default lockspace "" (the file is created here).
Control on stdin, one letter a line: 'g' starts the loop, 'm' starts counting, 's' stops counting, prints
one JSON line on stdout and exits. "ready" is printed once the connection is registered.
Wire format: src/shared/protocol/message.ts and lock-program.ts (libvirt's lock_protocol.x).
"""
import json
import os
import socket
import struct
import sys
import threading
import time

LOCK_PROGRAM = 0x0EA7BEEF
LOCK_PROGRAM_VERSION = 1
PROC_REGISTER = 1
PROC_ACQUIRE_RESOURCE = 6
PROC_RELEASE_RESOURCE = 7
TYPE_CALL = 0
TYPE_REPLY = 1
STATUS_OK = 0
HEADER_END = 28
REPLY_MAX = 65536
# Latency histogram as the C client keeps it: 1 us buckets below 10 ms, 1 ms buckets up to 1 s.
FINE_US = 10000
COARSE_MS = 1000

HEADER = struct.Struct(">IIIIIII")  # length, program, version, procedure, type, serial, status


def xdr_string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value + b"\0" * (-len(value) % 4)


def call(proc: int, serial: int, body: bytes) -> bytearray:
    frame = bytearray(HEADER.pack(HEADER_END + len(body), LOCK_PROGRAM, LOCK_PROGRAM_VERSION, proc, TYPE_CALL, serial, STATUS_OK))
    frame += body
    return frame


def read_reply(sock: socket.socket, proc: int, serial: int) -> bool:
    """Reads one reply frame; checks it answers the call in flight; True for an OK status."""
    head = sock.recv(HEADER_END, socket.MSG_WAITALL)
    if len(head) < HEADER_END:
        raise ConnectionError("daemon hung up")
    length, program, _version, got_proc, kind, got_serial, status = HEADER.unpack(head)
    if length < HEADER_END or length > REPLY_MAX:
        raise ConnectionError(f"reply length {length}")
    if program != LOCK_PROGRAM or got_proc != proc or kind != TYPE_REPLY or got_serial != serial:
        raise ConnectionError("reply header does not match the call")
    rest = length - HEADER_END
    while rest > 0:
        got = sock.recv(rest)
        if not got:
            raise ConnectionError("daemon hung up")
        rest -= len(got)
    return status == STATUS_OK


class Control:
    """The bench's letters, read on a thread so the lock loop never polls stdin."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.counting = False
        self.stopped = threading.Event()
        self.started_ns = 0
        self.stopped_ns = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            letter = line.strip()
            if letter == "g":
                self.go.set()
            elif letter == "m":
                self.started_ns = time.monotonic_ns()
                self.counting = True
            elif letter == "s":
                break
        # 's', or the bench went away: stop.
        self.stopped_ns = time.monotonic_ns()
        self.counting = False
        self.stopped.set()
        self.go.set()


def main() -> int:
    if len(sys.argv) != 5 or sys.argv[3] != "1":
        sys.stderr.write("usage: lock-client.py SOCKET FILE_PREFIX 1 ID_BASE\n")
        return 2
    socket_path, prefix, owner_id = sys.argv[1], sys.argv[2], int(sys.argv[4])
    path = f"{prefix}{owner_id}.img"
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_path)

    serial = 1
    uuid = bytearray(16)
    uuid[6], uuid[8] = 0x40, 0x80
    uuid[12:16] = struct.pack(">I", owner_id)
    register = bytes(uuid) + xdr_string(f"bench-c-{owner_id}".encode()) + struct.pack(">III", owner_id, 0x7FFFF000 + owner_id, 0)
    sock.sendall(call(PROC_REGISTER, serial, register))
    if not read_reply(sock, PROC_REGISTER, serial):
        sys.stderr.write("lock-client.py: register refused\n")
        return 2

    resource = xdr_string(b"") + xdr_string(path.encode()) + struct.pack(">I", 0)
    acquire = call(PROC_ACQUIRE_RESOURCE, 0, resource)
    release = call(PROC_RELEASE_RESOURCE, 0, resource)
    control = Control()
    print("ready", flush=True)
    control.go.wait()

    fine = [0] * FINE_US
    coarse = [0] * COARSE_MS
    cycles = requests = errors = 0
    clock = time.monotonic_ns
    sendall = sock.sendall
    pack_serial = struct.Struct(">I").pack_into
    while not control.stopped.is_set():
        for frame, proc in ((acquire, PROC_ACQUIRE_RESOURCE), (release, PROC_RELEASE_RESOURCE)):
            serial += 1
            pack_serial(frame, 20, serial & 0xFFFFFFFF)
            sent = clock()
            sendall(frame)
            ok = read_reply(sock, proc, serial & 0xFFFFFFFF)
            if control.counting:
                us = (clock() - sent) // 1000
                if us < FINE_US:
                    fine[us] += 1
                else:
                    coarse[min(us // 1000, COARSE_MS - 1)] += 1
                requests += 1
                if not ok:
                    errors += 1
                if proc == PROC_RELEASE_RESOURCE:
                    cycles += 1

    started = control.started_ns or control.stopped_ns
    latency = {str(us): n for us, n in enumerate(fine) if n}
    latency.update({str(ms * 1000): n for ms, n in enumerate(coarse) if n})

    def percentile_ms(q: float) -> float:
        rank, seen = int(q * requests), 0
        for us, n in enumerate(fine):
            seen += n
            if seen > rank:
                return us / 1000
        for ms, n in enumerate(coarse):
            seen += n
            if seen > rank:
                return float(ms)
        return 0.0

    report = {
        "connections": 1,
        "cycles": cycles,
        "requests": requests,
        "errors": errors,
        "elapsedNs": control.stopped_ns - started,
        "p50Ms": percentile_ms(0.5),
        "p99Ms": percentile_ms(0.99),
        "latencyUs": latency,
    }
    print(json.dumps(report, separators=(",", ":")), flush=True)
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
