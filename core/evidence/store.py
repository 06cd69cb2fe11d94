"""Where checkpoints are kept: outside the record store, written once, never overwritten.

A :class:`CheckpointStore` is three operations — list the names, read one, create one that must
not exist yet — so that an object store with append-only retention (S3 Object Lock in compliance
mode, an Azure immutable blob container, a WORM share) can replace the directory: ``create``
maps to a conditional put (``If-None-Match: *``), and the store's retention is what keeps the
database administrator from deleting a checkpoint; the chain of files is what shows it when
someone could.

:class:`DirectoryStore` is the configured directory (``SOHOA_CHECKPOINT_DIR``): each file is
written to a temporary name, flushed to disk, then linked to its final name — which fails if
the name is taken, so that two writers never overwrite each other and a reader never sees half a
file — and made read-only.
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Protocol

PREFIX, SUFFIX = "checkpoint-", ".json"
_NAME = re.compile(rf"^{PREFIX}(\d{{8}}){re.escape(SUFFIX)}$")


def checkpoint_name(sequence: int) -> str:
    """The name of the ``sequence``-th checkpoint (from 1): ``checkpoint-00000042.json``."""
    return f"{PREFIX}{sequence:08d}{SUFFIX}"


def sequence_of(name: str) -> int | None:
    """The sequence number a checkpoint's name states, or None for another file."""
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


class CheckpointStore(Protocol):
    """An append-only store of checkpoint files."""

    def names(self) -> list[str]:
        """Every checkpoint's name, in order."""

    def read(self, name: str) -> bytes:
        """A checkpoint's bytes (FileNotFoundError when it is gone)."""

    def create(self, name: str, data: bytes) -> None:
        """Write a new checkpoint; FileExistsError when ``name`` is taken (never overwrites)."""


class DirectoryStore:
    """Checkpoints as files of a directory (see the module's docstring)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"DirectoryStore({str(self.path)!r})"

    def names(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted((p.name for p in self.path.iterdir() if sequence_of(p.name) is not None),
                      key=lambda n: sequence_of(n))

    def read(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    def create(self, name: str, data: bytes) -> None:
        if sequence_of(name) is None:
            raise ValueError(f"{name!r} is not a checkpoint's name")
        self.path.mkdir(parents=True, exist_ok=True)
        temporary = self.path / f".{name}.{uuid.uuid4().hex}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.link(temporary, self.path / name)  # atomic, and refused when the name exists
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def store_from_environment() -> DirectoryStore | None:
    """The configured checkpoint directory (setting ``checkpoint_dir``), or None."""
    from core.kernel import settings

    path = settings.current().checkpoint_dir
    return DirectoryStore(path) if path else None
