"""A private PostgreSQL cluster started from Debian's binaries (initdb / pg_ctl): for a run
without a server, and for the fault tests that restart PostgreSQL mid-burst without touching
the shared server."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port; ``settings`` go to its configuration."""

    def __init__(self, settings: dict[str, str] | None = None):
        self.initdb, self.pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise RuntimeError("initdb / pg_ctl not found (Debian: apt-get install postgresql)")
        self.dir = Path(tempfile.mkdtemp(prefix="sohoa-pg-"))
        self.port = free_port()
        self.run_as = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
        if self.run_as:
            shutil.chown(self.dir, "postgres")
        subprocess.run([*self.run_as, self.initdb, "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust"],
                       check=True, capture_output=True)
        if settings:
            with open(self.dir / "data" / "postgresql.auto.conf", "a") as conf:
                conf.writelines(f"{name} = '{value}'\n" for name, value in settings.items())
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        # the server's own output goes to a log file: pipes held by the postmaster would never close
        subprocess.run([*self.run_as, self.pg_ctl, "-D", str(self.dir / "data"), "-w", "-l", str(self.dir / "log"),
                        *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")

    def restart(self) -> None:
        self._ctl("-m", "fast", "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "restart")

    def stop(self) -> None:
        subprocess.run([*self.run_as, self.pg_ctl, "-D", str(self.dir / "data"), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)
