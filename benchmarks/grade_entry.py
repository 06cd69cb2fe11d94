"""Grade entry through the API at the end of a city's year (2 million students × 12 subjects in a
two-week window is a small load; the target on this 2-core machine: ≥ 2,000 score rows/s with
p99 < 200 ms, nothing lost or duplicated).

1. Setup (untimed): a throwaway PostgreSQL database; generated schools (classes of 35 students)
   with their teaching assignments; a session token for each subject teacher (their phones
   signed in earlier: ``core.access.accounts.open_sessions``); for every class's scored
   subject of the secondary schools, the teacher's request: every student's year (two terms,
   as many regular assessments as the subject's periods need, TT22/2021 Art. 6), scores varied.
2. The API runs as its own processes (``sohoa api --workers N``) on 127.0.0.1.
3. The load comes from a separate process: ``PUT /api/v1/classes/{c}/subjects/{s}/results``,
   open loop at ``--rate`` requests/s for ``--seconds`` (a request is one class's subject: 35
   score rows, each a student's year in the subject); a class's subject sent again is a
   correction.
4. Report: requests and score rows a second, p50 / p99, statuses, CPU per request; what the
   database's sessions were doing, sampled 100 times a second from ``pg_stat_activity`` (waiting
   on a lock — a school's requests queue at its audit chain's head —, in a transaction waiting
   for the API process, syncing the WAL): figures that a busy machine moves far less than the
   latencies; the count check: every 200 is exactly one ``gradebook.enter`` audit event, and
   every class's subject acknowledged has all its students' results in the database.

Usage: python benchmarks/grade_entry.py [--schools 6 --classes 10 --rate 60 --seconds 60 --workers 2]
       [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import signing_api  # noqa: E402 - the load client's connection, the API's start and CPU accounting

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare(url: str, pki_dir: Path, schools: int, classes: int, out: Path) -> dict:
    """The schools, the tokens and every request body, written to the load file."""
    from sqlalchemy import select

    from core.access.accounts import open_sessions
    from core.demo.synthetic import Scale, generate
    from core.kernel.errors import SohoaError
    from core.kernel.vocabulary import SchoolLevel
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from core.storage.models import Enrolment, School, SchoolClass, Subject, TeachingAssignment, UserAccount
    from core.transcripts.gradebook import _periods
    from core.transcripts.rules.tt22_2021 import regular_assessments_per_term

    db = Database(make_engine(url))
    upgrade(db.engine)
    generate(db, Scale(districts=1, schools_per_district=schools, classes_per_school=classes, weeks=0,
                       students_per_class=35, seed=13, key_files=False), pki_dir=pki_dir, progress=True)
    rng = random.Random(13)
    jobs, users = [], {}
    with db.reading() as s:
        pairs = s.execute(select(SchoolClass, Subject, UserAccount.username)
                          .join(School, School.id == SchoolClass.school_id)
                          .join(TeachingAssignment, TeachingAssignment.class_id == SchoolClass.id)
                          .join(Subject, Subject.id == TeachingAssignment.subject_id)
                          .join(UserAccount, UserAccount.staff_id == TeachingAssignment.teacher_id)
                          .where(School.level != SchoolLevel.PRIMARY, Subject.comment_only.is_(False),
                                 TeachingAssignment.valid_to.is_(None))
                          .order_by(SchoolClass.id, Subject.id)).all()
        for klass, subject, username in pairs:
            try:
                regular = regular_assessments_per_term(_periods(s, subject, klass.grade))
            except SohoaError:
                continue  # no periods known for it: the API would refuse it (409)
            students = list(s.scalars(select(Enrolment.student_id).where(Enrolment.class_id == klass.id)))

            def term():
                return {"regular": [f"{rng.randint(50, 100) / 10:.1f}" for _ in range(regular)],
                        "mid": f"{rng.randint(40, 100) / 10:.1f}", "final": f"{rng.randint(40, 100) / 10:.1f}"}
            body = {"year_id": klass.school_year_id,
                    "results": {str(st): {"term1": term(), "term2": term()} for st in students}}
            jobs.append((klass.id, subject.id, username, json.dumps(body), len(students)))
            users[username] = None
    tokens = open_sessions(db, list(users), authenticated_by="synthetic-app")
    out.write_text(json.dumps([(c, sub, tokens[u], body, n) for c, sub, u, body, n in jobs]))
    db.engine.dispose()
    return {"class_subjects": len(jobs), "teachers": len(users), "score_rows": sum(j[4] for j in jobs)}


async def _drive(port: int, jobs: list, rate: float, seconds: float, concurrency: int) -> dict:
    """Open loop: request n is due at start + n/rate (its latency counts from then); at most
    ``concurrency`` in flight, one per connection."""
    loop = asyncio.get_running_loop()
    latencies, statuses, acked, rows = [], {}, [], 0
    idle: asyncio.Queue = asyncio.Queue()
    for _ in range(concurrency):
        idle.put_nowait(None)

    async def one(job, due):
        nonlocal rows
        class_id, subject_id, token, body, n = job
        data = body.encode()
        request = (f"PUT /api/v1/classes/{class_id}/subjects/{subject_id}/results HTTP/1.1\r\n"
                   f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data
        conn = await idle.get()
        status = "dropped"
        try:
            if conn is None or conn.lost:
                _, conn = await loop.create_connection(signing_api._Connection, "127.0.0.1", port)
            status = await conn.send(request)
        except ConnectionError:
            conn = None
        finally:
            idle.put_nowait(conn)
        latencies.append(time.perf_counter() - due)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            acked.append((class_id, subject_id))
            rows += n

    start = time.perf_counter()
    tasks, n = [], 0
    while True:
        due = start + n / rate
        if due - start >= seconds:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(jobs[n % len(jobs)], due)))
        n += 1
    await asyncio.gather(*tasks)
    return {"sent": n, "elapsed": time.perf_counter() - start, "latencies": latencies, "statuses": statuses,
            "acked": acked, "rows": rows}


def _client(args) -> dict:
    port, jobs_file, rate, seconds, concurrency = args
    import uvloop

    jobs = json.loads(Path(jobs_file).read_text())
    cpu = time.process_time()
    result = uvloop.run(_drive(port, jobs, rate, seconds, concurrency))
    result["cpu"] = time.process_time() - cpu
    return result


def _sample_sessions(url: str, stop: threading.Event, seen: dict) -> None:
    """What the benchmark database's sessions are doing, 100 times a second until ``stop``:
    ``seen`` counts the samples and the sessions in each (state, wait) found."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute("SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
            seen["samples"] = seen.get("samples", 0) + 1
            for state, kind, event in rows:
                if kind == "Lock":
                    key = f"waiting on a lock ({event})"
                elif state == "idle in transaction":
                    key = "in a transaction, waiting for the API"
                elif kind == "IO" and event == "WALSync":
                    key = "syncing the WAL"
                elif state == "active":
                    key = "running"
                else:
                    continue
                seen[key] = seen.get(key, 0) + 1
            time.sleep(0.01)


def _count_check(url: str, result: dict, students: dict) -> str:
    from sqlalchemy import func, select

    from core.storage.db import Database, make_engine
    from core.storage.models import AuditEvent, SubjectResult

    db = Database(make_engine(url))
    with db.reading() as s:
        events = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "gradebook.enter"))
        stored = dict(((c, sub), n) for c, sub, n in s.execute(
            select(SubjectResult.class_id, SubjectResult.subject_id, func.count())
            .group_by(SubjectResult.class_id, SubjectResult.subject_id)).all())
    db.engine.dispose()
    acked = result["acked"]
    short = [p for p in set(acked) if stored.get(p, 0) != students[p]]
    ok = events == len(acked) and not short
    return (f"{'OK' if ok else 'FAILED'}: acknowledged {len(acked):,}, audit events {events:,} "
            f"(lost {max(0, len(acked) - events)}, extra {max(0, events - len(acked))}); "
            f"{len(set(acked)):,} classes' subjects acknowledged, {len(short)} without all their students' results")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=6, help="schools (a third primary: not in the load)")
    parser.add_argument("--classes", type=int, default=10, help="classes per school")
    parser.add_argument("--rate", type=float, default=60, help="requests a second (each ~35 score rows)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="API processes")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--port", type=int, default=8097)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    from core.storage.scratch import create_scratch_database, drop_scratch_database

    url = create_scratch_database(args.postgres, "sohoa_grades_bench")
    work = Path(tempfile.mkdtemp(prefix="sohoa-grades-bench-"))
    try:
        info = prepare(url, work / "pki", args.schools, args.classes, work / "jobs.json")
        print(f"setup: {info['class_subjects']:,} classes' subjects of {info['teachers']:,} teachers, "
              f"{info['score_rows']:,} score rows a pass", flush=True)
        students = {(c, s): n for c, s, _, _, n in json.loads((work / "jobs.json").read_text())}
        env = {**os.environ, "SOHOA_DATABASE_URL": url, "SOHOA_PKI_DIR": str(work / "pki")}
        server = subprocess.Popen([sys.executable, "-m", "core.cli", "api", "--port", str(args.port),
                                   "--workers", str(args.workers)], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=open(work / "api.log", "wb"),
                                  start_new_session=True)
        try:
            signing_api._wait_for(f"http://127.0.0.1:{args.port}/openapi.json")
            signing_api._wait_ready(f"http://127.0.0.1:{args.port}/api/v1/health")
            before = signing_api._cpu_by_component(server.pid)
            stop, seen = threading.Event(), {}
            sampler = threading.Thread(target=_sample_sessions, args=(url, stop, seen), daemon=True)
            sampler.start()
            try:
                with mp.get_context("spawn").Pool(1) as pool:
                    result = pool.apply(_client, ((args.port, str(work / "jobs.json"), args.rate, args.seconds,
                                                   args.concurrency),))
            finally:
                stop.set()
                sampler.join()
            used = signing_api._cpu_used(before, signing_api._cpu_by_component(server.pid))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
        lat = sorted(result["latencies"])
        p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
        per_s, rows_s = result["sent"] / result["elapsed"], result["rows"] / result["elapsed"]
        print(f"sent {result['sent']:,} requests in {result['elapsed']:.1f} s = {per_s:.0f}/s, "
              f"{result['rows']:,} score rows acknowledged = {rows_s:,.0f} score rows/s; p50 {p50 * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms; statuses {result['statuses']}")
        per = 1000 / max(result["sent"], 1)
        print("CPU per request: " + ", ".join(f"{name} {s * per:.2f} ms" for name, s in used.items())
              + f", load client {result['cpu'] * per:.2f} ms")
        samples = max(seen.pop("samples", 0), 1)
        print(f"database sessions, mean of {samples:,} samples: " + (", ".join(
            f"{key} {n / samples:.3f}" for key, n in sorted(seen.items(), key=lambda kv: -kv[1])) or "none busy"))
        check = _count_check(url, result, students)
        print(f"count check: {check}")
        met = rows_s >= 2000 and p99 < 0.2 and check.startswith("OK")
        print(f"target: ≥ 2,000 score rows/s, p99 < 200 ms, nothing lost or duplicated: {'met' if met else 'NOT met'}")
    finally:
        drop_scratch_database(args.postgres, url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
