"""The analysts' notebooks' small seeded dataset (dữ liệu mẫu cho sổ phân tích), and the
look-ups the notebooks need that no console service offers (:func:`transcript_codes`,
:func:`issued_pdf`, :func:`open_database`). The notebooks also run on the demo database that
``sohoa demo`` builds: point ``DATA_DIR`` at its ``var/`` (``sohoa.db`` and ``pki/``), which
:func:`seed` then leaves as it is.

:func:`seed` builds, once, a small but complete department in ``data_dir``::

    <data_dir>/sohoa.db               the record store (SQLite, migrated with Alembic)
    <data_dir>/pki/                   the demo PKI: CA, every teacher's and school seal's keys
    <data_dir>/codes.json             verification codes of a few transcripts, by status
    <data_dir>/transcripts/<code>.pdf the issued PDF of one transcript, as a student would hand it in
    <data_dir>/analytics/             the analytics store (written by the notebooks' refresh)

through the real generator (:func:`core.demo.synthetic.generate`: 2 districts × 2 schools × 2
classes, 4 weeks of lesson entries signed for real) and the real transcript workflow
(:func:`core.demo.gradebook.generate_transcripts`: one class per school, each school
stopped at a different step — issued, waiting for the principal, for the homeroom teacher,
for a subject teacher). It is built in a sibling directory and renamed into place, so a
stopped build never leaves half a dataset behind.

Run it from the shell: ``python -m core.demo.notebook_data [DATA_DIR] [--force]`` (default
``var/notebook-data``).
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from core.access.authz import Actor, Permission, require
from core.demo.synthetic import Scale
from core.kernel.vocabulary import TranscriptStatus
from core.storage.db import Database, make_engine
from core.storage.models import School, SchoolClass, Transcript

DEFAULT_DIR = Path("var") / "notebook-data"
#: Small enough to build in well under a minute, big enough for every notebook to show something:
#: 4 schools (one per transcript workflow step), 8 classes, 4 weeks of signed lesson entries.
SCALE = Scale(districts=2, schools_per_district=2, classes_per_school=2, weeks=4, students_per_class=8,
              seed=2025)
#: Classes per school whose gradebooks and transcripts are generated.
TRANSCRIPT_CLASSES = 1
ANALYST = "phantich"
MARKER = "codes.json"   # written last: its presence means the dataset is complete


def sqlite_url(data_dir: Path | str) -> str:
    return f"sqlite:///{Path(data_dir) / 'sohoa.db'}"


def open_database(data_dir: Path | str, database_url: str | None = None) -> Database:
    """The record store of a notebook: ``database_url`` when given (e.g. PostgreSQL), else the
    seeded SQLite file in ``data_dir``."""
    return Database(make_engine(database_url or sqlite_url(data_dir)))


def seed(data_dir: Path | str = DEFAULT_DIR, *, database_url: str | None = None, scale: Scale = SCALE,
         force: bool = False) -> Path:
    """Build the notebooks' dataset in ``data_dir`` unless it is already there; returns it.
    With ``database_url`` (an *empty* database, e.g. PostgreSQL) the record store is built
    there instead of the SQLite file; the PKI, codes and PDF still go to ``data_dir``.

    A ``data_dir`` that already holds a record store built another way — the ``var/`` of
    ``sohoa demo`` (``sohoa.db`` and ``pki/``) — is used as it is: nothing is built, nothing
    replaced (``force`` would replace it)."""
    data_dir = Path(data_dir).resolve()
    if not force and ((data_dir / MARKER).exists() or (data_dir / "sohoa.db").exists()):
        return data_dir
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _build(data_dir, database_url, scale)
    # in a notebook's kernel an event loop is running, and the PDF signatures (pyHanko) run
    # their own with asyncio.run(): build in a worker thread, as the console does
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_build, data_dir, database_url, scale).result()


def _build(data_dir: Path, database_url: str | None, scale: Scale) -> Path:
    from core.demo.gradebook import generate_transcripts
    from core.demo.synthetic import generate
    from core.storage.migrate import upgrade

    building = data_dir.with_name(f".{data_dir.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    engine = make_engine(database_url or sqlite_url(building))
    try:
        upgrade(engine)
        db = Database(engine)
        generate(db, scale, pki_dir=building / "pki", progress=False)
        # renew_certificates: a teacher whose demo certificate expired or was revoked gets a new
        # one first, so that the "issued" school really issues its transcripts
        generate_transcripts(db, pki_dir=building / "pki", classes_per_school=TRANSCRIPT_CLASSES, seed=scale.seed,
                             renew_certificates=True)
        codes = _record_codes(db, building)
    except BaseException:
        engine.dispose()
        shutil.rmtree(building, ignore_errors=True)
        raise
    engine.dispose()
    (building / MARKER).write_text(json.dumps(codes, indent=1, ensure_ascii=False))
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    building.rename(data_dir)
    return data_dir


def _record_codes(db: Database, directory: Path) -> dict:
    """A few verification codes per transcript status, and the issued PDF of the first issued
    transcript saved as the copy a student hands in (``transcripts/<code>.pdf``)."""
    codes: dict[str, list[str]] = {}
    with db.reading() as session:
        for status in TranscriptStatus:
            codes[status.value] = list(session.scalars(
                select(Transcript.verification_code).where(Transcript.status == status)
                .order_by(Transcript.id).limit(3)))
        first = codes[TranscriptStatus.ISSUED.value][:1]
        pdf = session.scalar(select(Transcript.document).where(Transcript.verification_code == first[0])) \
            if first else None
    if pdf is not None:
        (directory / "transcripts").mkdir(exist_ok=True)
        (directory / "transcripts" / f"{first[0]}.pdf").write_bytes(pdf)
    return {"statuses": codes, "pdf": f"transcripts/{first[0]}.pdf" if pdf is not None else None}


def transcript_codes(db: Database, actor: Actor, *, status: TranscriptStatus | None = TranscriptStatus.ISSUED,
                     limit: int = 20) -> pd.DataFrame:
    """Verification codes of transcripts in the caller's scope (school, class, status, version,
    issued time; no student's personal data): where a notebook finds a code to verify."""
    require(actor, Permission.VIEW)
    T = Transcript
    stmt = (select(T.verification_code.label("code"), School.code.label("school_code"),
                   SchoolClass.name.label("class_name"), T.status, T.version, T.issued_at)
            .join(School, School.id == T.school_id).join(SchoolClass, SchoolClass.id == T.class_id)
            .where(actor.school_filter(T.school_id)))
    if status is not None:
        stmt = stmt.where(T.status == status)
    stmt = stmt.order_by(School.code, SchoolClass.name, T.id).limit(limit)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["status"] = frame["status"].map(lambda s: getattr(s, "value", s))
    return frame


def issued_pdf(db: Database, actor: Actor, code: str) -> bytes | None:
    """The issued document (PDF) of the transcript with verification ``code`` in the caller's
    scope, as its student would hand it in; None when there is no such issued transcript."""
    require(actor, Permission.VIEW)
    T = Transcript
    with db.reading() as session:
        return session.scalar(select(T.document).where(
            T.verification_code == code.strip().upper(), T.status == TranscriptStatus.ISSUED,
            actor.school_filter(T.school_id)))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [a for a in args if not a.startswith("--")]
    target = seed(Path(paths[0]) if paths else DEFAULT_DIR, force="--force" in args)
    print(f"notebook dataset ready in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
