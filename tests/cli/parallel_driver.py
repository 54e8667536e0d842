"""`moesif ARGS...` with the parallel check instrumented, for test_parallel_check.py.

Run as ``python parallel_driver.py MODE ARGS...``. Each forked child checking a part
first writes its pid and a newline to the file descriptor in MOESIF_TEST_NOTIFY_FD,
then, by MODE:

- ``check``: checks its part as usual;
- ``raise``: spools a few records, then raises;
- ``crash``: spools a few records, then ends at once (``os._exit(3)``), reporting nothing;
- ``wait``: waits forever, or until Ctrl-C;
- ``hang``: ignores SIGINT and waits forever (only killing it ends it);

and with ``nofork``, no child can be started (`os.fork` fails as when there are too
many processes).

After the command, one line on stdout tells whether any child was left unreaped.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from moesifapi.cli import _checking, main

mode = sys.argv[1]
notify_fd = int(os.environ["MOESIF_TEST_NOTIFY_FD"])
real_check_part = _checking._check_part


def check_part(*args: Any) -> Any:
    os.write(notify_fd, f"{os.getpid()}\n".encode())
    if mode in ("wait", "hang"):
        if mode == "hang":
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Event().wait()
    if mode in ("raise", "crash"):
        part_spool = args[5]
        real_add = part_spool.add
        added = [0]

        def add(position: tuple[int, int], encoded: bytes) -> None:
            if added[0] == 3:
                part_spool.flush()
                if mode == "crash":
                    os._exit(3)
                raise RuntimeError("simulated failure")
            added[0] += 1
            real_add(position, encoded)

        part_spool.add = add
    return real_check_part(*args)


def no_fork() -> int:
    raise BlockingIOError(11, "Resource temporarily unavailable")


_checking._check_part = check_part  # type: ignore[assignment]
if mode == "nofork":
    os.fork = no_fork
status = main(sys.argv[2:])
try:
    os.waitpid(-1, os.WNOHANG)
except ChildProcessError:
    print("no child left")
else:
    print("a child was left")
sys.exit(status)
