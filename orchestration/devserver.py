"""Start `dagster dev` on loopback with default signal handling.

Started from a non-interactive shell, `dagster dev` inherits ignored SIGINT/SIGTERM and cannot be stopped;
restoring the defaults before exec makes `kill -INT <pid>` stop the whole tree.
"""

from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    port = argv[0] if argv else "3000"
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    os.execv(dagster, [dagster, "dev", "-h", "127.0.0.1", "-p", port, "-m", "orchestration.definitions"])


if __name__ == "__main__":
    main()
