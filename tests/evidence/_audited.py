"""Run a server entry point (the API or the console) as its own process with an audit hook
(PEP 578) that logs every file the process tries to open under a CA directory or with a CA
key's name, found or not: the evidence that no server code path reaches for a CA key.

    python -m tests.evidence._audited <log file> api|console [args of the entry point]
"""
from __future__ import annotations

import os
import sys

CA_NAMES = ("root.key.pem", "issuing.key.pem", "tsa.key.pem", "revoked.json")


def _install(log_path: str) -> None:
    busy = []

    def hook(event, args):
        if event != "open" or busy or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        path = os.fsdecode(args[0])
        if f"{os.sep}ca{os.sep}" in path or path.endswith(CA_NAMES):
            busy.append(1)
            try:
                with open(log_path, "a") as log:
                    log.write(path + "\n")
            finally:
                busy.clear()

    sys.addaudithook(hook)


def main() -> None:
    log_path, kind, *rest = sys.argv[1:]
    _install(log_path)
    if kind == "api":
        import uvicorn

        uvicorn.run("api.app:app_from_environment", factory=True, host="127.0.0.1", port=int(rest[0]), workers=1,
                    log_level="warning")
    else:
        from core.cli import main as cli

        sys.exit(cli(rest))


if __name__ == "__main__":
    main()
