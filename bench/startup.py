#!/usr/bin/env python3
"""Scale scenario helper (standard library only).

    startup.py N CONFIG -- CRONWHEEL [ARGS...]

Starts `CRONWHEEL ARGS...` (expected: `run --config CONFIG --log-level info`) with
stderr on a pipe, measures the time from just before the exec to the moment the log
line "cronwheel started" is read, waits SETTLE seconds (1 s), reads VmRSS, VmHWM and
Threads from /proc/PID/status, stops the daemon with SIGTERM and prints one JSON
record on stdout. The measured start-up includes the fork/exec and the pipe read
(tens of microseconds); it is an upper bound of the daemon's own start-up.
"""
import json
import os
import select
import signal
import subprocess
import sys
import time

SETTLE = 1.0
TIMEOUT = 30.0


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads", "State"):
                out[k] = v.strip()
    return out


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    n, config, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[4:]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    started = None
    buf = b""
    fd = proc.stderr.fileno()
    deadline = t0 + TIMEOUT
    log = []
    try:
        while started is None and time.perf_counter() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if not r:
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                log.append(line.decode(errors="replace"))
                if "cronwheel started" in log[-1] and started is None:
                    started = time.perf_counter()
        if started is None:
            sys.stderr.write("startup.py: no 'cronwheel started' line; log:\n" + "\n".join(log[-20:]) + "\n")
            sys.exit(1)
        end = time.perf_counter() + SETTLE
        while time.perf_counter() < end:  # keep the pipe drained while settling
            r, _, _ = select.select([fd], [], [], max(0.0, end - time.perf_counter()))
            if r and not os.read(fd, 65536):
                break
        st = status(proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()

    def kb(s):
        return int(s.split()[0]) if s else None

    print(json.dumps({
        "scenario": "scale",
        "impl": "cronwheel",
        "n": n,
        "startup_ms": round((started - t0) * 1000, 2),
        "vmrss_kb": kb(st.get("VmRSS")),
        "vmhwm_kb": kb(st.get("VmHWM")),
        "threads": int(st.get("Threads", "0")),
        "exit_code": proc.returncode,
    }))


if __name__ == "__main__":
    main()
