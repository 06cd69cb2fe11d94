"""Integrity benchmark: build the demo data on PostgreSQL and time

1. the first checkpoint (every attested record: issued transcripts, closed weeks), signed by the
   service seal and timestamped by the demo TSA;
2. a later checkpoint after one more audit event (the delta path);
3. ``verify_integrity`` over the whole record store, with and without reading every lesson
   signature's signing time (``--no-entry-signatures``), and how many entries, weeks,
   transcripts and audit events it covered.

Usage:
    python benchmarks/integrity.py [--schools-per-district N --classes-per-school N --weeks N]
It creates (and drops) a PostgreSQL database on 127.0.0.1:5432 (``--postgres`` for another server).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.access import audit  # noqa: E402
from core.access.authz import SYSTEM  # noqa: E402
from core.demo.synthetic import Scale, generate  # noqa: E402
from core.evidence.checkpoints import write_checkpoint  # noqa: E402
from core.evidence.integrity import verify_integrity  # noqa: E402
from core.evidence.store import DirectoryStore  # noqa: E402
from core.signatures import DemoPKI, KeyStore  # noqa: E402
from core.signatures.responder import Responder, free_port  # noqa: E402
from core.signatures.service import SEAL_OWNER, ServiceSeal  # noqa: E402
from core.storage.db import Database  # noqa: E402
from core.storage.migrate import upgrade  # noqa: E402
from core.storage.models import AuditEvent, LogbookEntry, Transcript, WeekClose  # noqa: E402
from core.storage.scratch import create_scratch_database, drop_scratch_database  # noqa: E402


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--districts", type=int, default=1)
    parser.add_argument("--schools-per-district", type=int, default=4)
    parser.add_argument("--classes-per-school", type=int, default=8)
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--transcript-classes", type=int, default=1)
    args = parser.parse_args()

    url = create_scratch_database(args.postgres, "sohoa_bench_integrity")
    work = Path(tempfile.mkdtemp(prefix="sohoa-integrity-"))
    port = free_port()
    db = Database.from_url(url)
    responder = None
    try:
        upgrade(db.engine)
        _, built = timed(generate, db, Scale(districts=args.districts, schools_per_district=args.schools_per_district,
                                             classes_per_school=args.classes_per_school, weeks=args.weeks,
                                             transcript_classes=args.transcript_classes),
                         pki_dir=work / "pki", progress=False, responder_url=f"http://127.0.0.1:{port}")
        pki = DemoPKI.load(work / "pki")
        responder = Responder(pki).start(port)
        seal = ServiceSeal(KeyStore(pki.directory).signer_for(SEAL_OWNER), f"{pki.responder_url}/tsa")
        fingerprint = seal.fingerprint
        store = DirectoryStore(work / "checkpoints")
        first, t_first = timed(write_checkpoint, db, seal, store)
        with db.transaction() as session:
            audit.record(session, SYSTEM, "bench.note", "school", None)
        _, t_delta = timed(write_checkpoint, db, seal, store)
        trust = pki.trust_store()
        found, t_verify = timed(verify_integrity, db, trust, store, seals=[fingerprint])
        found_quick, t_quick = timed(verify_integrity, db, trust, store, seals=[fingerprint], entry_signatures=False)
        with db.reading() as s:
            counts = {name: s.scalar(select(func.count()).select_from(model)) for name, model in (
                ("entries", LogbookEntry), ("weeks closed", WeekClose), ("transcripts", Transcript),
                ("audit events", AuditEvent))}
        size = (store.path / first.name).stat().st_size
        print(f"demo built in {built:.1f} s: " + ", ".join(f"{n} {c}" for n, c in counts.items()))
        print(f"first checkpoint (every attested record): {t_first * 1000:.0f} ms, {size / 1024:.0f} kB")
        print(f"later checkpoint (delta): {t_delta * 1000:.0f} ms")
        print(f"verify-integrity: {t_verify:.2f} s ({len(found)} discrepancies); "
              f"without reading the lesson signatures: {t_quick:.2f} s ({len(found_quick)})")
        return 0 if not found and not found_quick else 1
    finally:
        if responder is not None:
            responder.stop()
        db.engine.dispose()
        drop_scratch_database(args.postgres, url)


if __name__ == "__main__":
    sys.exit(main())
