"""Runs one contender in a fresh process, for the rows measured per process.

``worker.py serve NAME``: start the server, print its address as JSON, then
answer commands read from stdin, one per line:

- ``mark``: forget the peak RSS (``/proc/self/clear_refs``) and print the current RSS;
- ``report``: print the peak RSS since ``mark`` and the number of messages recorded;
- ``quit``: stop the server and exit.

``worker.py taken NAME``: occupy a port, start the server on it, and print how
long ``start()`` took to fail (or that it did not).
"""

from __future__ import annotations

import json
import socket
import sys
import time

from contenders import CONTENDERS


def _status(field: str) -> int:
    """A ``VmRSS``/``VmHWM`` figure of this process in bytes."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def serve(name: str) -> None:
    contender = CONTENDERS[name]
    server = contender.start()
    print(json.dumps({"address": contender.address(server)}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "mark":
            reset = _reset_peak()
            print(json.dumps({"rss": _status("VmRSS"), "reset": reset}), flush=True)
        elif command == "report":
            print(json.dumps({"hwm": _status("VmHWM"), "count": contender.count(server)}), flush=True)
        elif command == "quit":
            break
    contender.stop(server)


def taken(name: str, cap: float) -> None:
    contender = CONTENDERS[name]
    contender.load()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    result: dict[str, object] = {}
    t0 = time.perf_counter()
    try:
        server = contender.start("127.0.0.1", port)
    except BaseException as exc:
        result = {"seconds": time.perf_counter() - t0, "error": type(exc).__name__, "message": str(exc)}
    else:
        result = {"seconds": time.perf_counter() - t0, "error": None, "message": "started on a taken port"}
        contender.stop(server)
    result["cap"] = cap
    print(json.dumps(result), flush=True)
    blocker.close()


if __name__ == "__main__":
    mode, contender_name = sys.argv[1], sys.argv[2]
    if mode == "serve":
        serve(contender_name)
    elif mode == "taken":
        taken(contender_name, float(sys.argv[3]) if len(sys.argv) > 3 else 30.0)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
