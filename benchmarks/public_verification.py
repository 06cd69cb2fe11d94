"""The public check of transcripts under load (the issue's targets on this 2-core machine:
≥ 500 verifications/s by code with p99 < 100 ms; an uploaded PDF fully verified ≥ 50/s).

1. Setup (untimed): a throwaway PostgreSQL database; generated schools whose transcripts are
   issued through the signing workflow (core.demo.gradebook, every signature real); the demo
   PKI's CRL/OCSP responder; every issued transcript's verification computed once and kept
   (``transcript_verification``), as a department does after each batch of issues
   (core.transcripts.verification), on every core.
2. The console runs as its own process (``dashboards.app.serve``: the Panel pages and the
   public check's plain Tornado handlers; or, ``--server public``, the public check's handlers
   alone in ``--processes`` processes) on 127.0.0.1, checking revocation against the CA's
   CRL; a warm-up pass asks for every code once (as a server that has been running does).
3. The load comes from a separate process (keep-alive HTTP/1.1 on uvloop, an open-loop schedule
   bounded in count and time; the connection protocol of benchmarks/signing_api.py), one phase
   after the other:
   a. by code: ``GET /verify?code=…``, the server-rendered page, random issued codes, ``--rate``/s;
   b. uploads: ``POST /verify`` (multipart) of genuine issued PDFs, ``--pdf-rate``/s: each is
      matched byte for byte to its issued document (the code its QR link names, its SHA-256),
      whose verification is the kept one, status and revocation read now;
   c. altered uploads: a genuine code with other bytes (``--altered-seconds``, two at a time):
      each is verified on the spot by pyHanko and answered "không khớp" — the attacker's path,
      bounded to two at once; reported, no target.
4. Report per phase: throughput, p50 / p99, statuses, every answer's verdict checked (valid for
   genuine codes and files, altered for altered files), and the CPU per request of the console
   and of PostgreSQL.

Usage: python benchmarks/public_verification.py [--schools 8 --classes 4 --students 35
       --rate 500 --seconds 60 --pdf-rate 50 --pdf-seconds 60 --altered-seconds 20]
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
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import signing_api  # noqa: E402 - the load client's connection, shared

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# ---------------------------------------------------------------- setup (untimed)
def prepare(url: str, pki_dir: Path, schools: int, classes: int, students: int, responder_port: int) -> None:
    """Issued transcripts through the workflow, on a PKI whose certificates name the responder."""
    from core.demo.gradebook import generate_transcripts
    from core.demo.synthetic import Scale, generate
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade

    db = Database(make_engine(url))
    upgrade(db.engine)
    generate(db, Scale(districts=1, schools_per_district=schools, classes_per_school=classes, weeks=0,
                       students_per_class=students, seed=7), pki_dir=pki_dir, progress=True,
             responder_url=f"http://127.0.0.1:{responder_port}")
    generate_transcripts(db, pki_dir=pki_dir, classes_per_school=10_000, stages=("issued",),
                         renew_certificates=True, progress=True)
    db.engine.dispose()


def _prime_worker(args) -> int:
    """Compute and keep the verifications of a share of the codes (one process per core)."""
    url, pki_dir, codes = args
    from core.signatures import DemoPKI
    from core.storage.db import Database, make_engine
    from core.transcripts.verification import VerificationCache

    db = Database(make_engine(url))
    cache = VerificationCache(db, DemoPKI.load(Path(pki_dir)).trust_store(check_revocation=True), size=1)
    for code in codes:
        cache.issued(code)
        cache.forget(code)
    db.engine.dispose()
    return cache.computed


def issued_documents(url: str) -> list[tuple[str, bytes]]:
    from sqlalchemy import select

    from core.kernel.vocabulary import TranscriptStatus
    from core.storage.db import Database, make_engine
    from core.storage.models import Transcript

    db = Database(make_engine(url))
    with db.reading() as session:
        rows = session.execute(select(Transcript.verification_code, Transcript.document)
                               .where(Transcript.status == TranscriptStatus.ISSUED).order_by(Transcript.id)).all()
    db.engine.dispose()
    return [(r[0], r[1]) for r in rows]


# ---------------------------------------------------------------- the server (its own process)
def serve(url: str, pki_dir: Path, port: int, mode: str, processes: int) -> None:
    """``console``: the console as ``sohoa serve`` runs it (the Panel pages and the public
    check's handlers, one process). ``public``: the public check's handlers alone
    (dashboards.public.make_app) in ``processes`` processes sharing the port (a server of its
    own for the public page, beside the console). Revocation checked against the CA's CRL."""
    from tornado import netutil, process
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop

    from core.signatures import DemoPKI
    from core.storage.db import Database, make_engine

    trust = DemoPKI.load(pki_dir).trust_store(check_revocation=True)
    if mode == "console":
        from dashboards.app import serve as serve_console

        serve_console(Database(make_engine(url)), trust, port=port, pki_dir=pki_dir)
        return
    from dashboards.public import make_app

    sockets = netutil.bind_sockets(port, "127.0.0.1")
    if processes > 1:
        process.fork_processes(processes)
    HTTPServer(make_app(Database(make_engine(url)), trust)).add_sockets(sockets)
    IOLoop.current().start()


# ---------------------------------------------------------------- the load (its own process)
class _Connection(signing_api._Connection):
    """One keep-alive HTTP/1.1 connection: benchmarks/signing_api.py's, keeping the body."""

    keep_body = True


def _verdict(body: bytes) -> str:
    at = body.find(b'data-verdict="')
    return body[at + 14:body.index(b'"', at + 14)].decode() if at >= 0 else "-"


async def _drive(port: int, requests: list[bytes], rate: float | None, seconds: float, concurrency: int) -> dict:
    """Open loop at ``rate`` (request n due at start + n/rate; its latency counts from then, so
    a request that waited for a free connection is not flattered), or closed loop when ``rate``
    is None (a request as soon as one of the ``concurrency`` connections is free); one request
    in flight per connection; latency up to the whole answer."""
    loop = asyncio.get_running_loop()
    latencies, statuses, verdicts = [], {}, {}
    idle: asyncio.Queue = asyncio.Queue()
    for _ in range(concurrency):
        idle.put_nowait(None)

    async def one(request: bytes, due: float, conn):
        if conn is False:
            conn = await idle.get()
        status, verdict = "dropped", "-"
        try:
            if conn is None or conn.lost:
                _, conn = await loop.create_connection(_Connection, "127.0.0.1", port)
            status, body = await asyncio.wait_for(conn.send(request), 60)
            verdict = _verdict(body)
        except (OSError, ConnectionError, asyncio.TimeoutError):
            conn = None
        idle.put_nowait(conn)
        latencies.append(time.perf_counter() - due)
        statuses[status] = statuses.get(status, 0) + 1
        verdicts[verdict] = verdicts.get(verdict, 0) + 1

    start = time.perf_counter()
    deadline = start + seconds
    tasks, n = [], 0
    while time.perf_counter() < deadline:
        if rate is not None:
            due = start + n / rate
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(one(requests[n % len(requests)], due, False)))
        else:
            conn = await idle.get()  # closed loop: wait for a free connection first
            tasks.append(asyncio.create_task(one(requests[n % len(requests)], time.perf_counter(), conn)))
        n += 1
    await asyncio.gather(*tasks)
    return {"sent": n, "elapsed": time.perf_counter() - start, "latencies": latencies, "statuses": statuses,
            "verdicts": verdicts}


def _client(args) -> dict:
    import uvloop

    port, path, rate, seconds, concurrency = args
    requests = [bytes.fromhex(r) for r in json.loads(Path(path).read_text())]
    cpu = time.process_time()
    result = uvloop.run(_drive(port, requests, rate, seconds, concurrency))
    return {**result, "cpu": time.process_time() - cpu}


def get_request(code: str) -> bytes:
    return f"GET /verify?code={code} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def upload_request(pdf: bytes) -> bytes:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"pdf\"; filename=\"hoc-ba.pdf\"\r\n"
            "Content-Type: application/pdf\r\n\r\n").encode() + pdf + f"\r\n--{boundary}--\r\n".encode()
    return (f"POST /verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


# ---------------------------------------------------------------- measuring
def phase(name: str, server_pid: int, work: Path, port: int, requests: list[bytes], rate: float | None,
          seconds: float, concurrency: int, expect: str) -> dict:
    path = work / f"load-{abs(hash(name))}.json"
    path.write_text(json.dumps([r.hex() for r in requests]))
    before = signing_api._cpu_by_component(server_pid, "console")
    with mp.get_context("spawn").Pool(1) as pool:  # the load comes from a separate process
        result = pool.apply(_client, ((port, str(path), rate, seconds, concurrency),))
    used = signing_api._cpu_used(before, signing_api._cpu_by_component(server_pid, "console"))
    used["load client"] = result["cpu"]
    lat = sorted(result["latencies"])
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[max(0, int(len(lat) * 0.99) - 1)] if lat else float("nan")
    throughput = result["sent"] / result["elapsed"]
    ok = result["verdicts"].get(expect, 0)
    per = 1000 / max(result["sent"], 1)
    print(f"{name}: {result['sent']:,} in {result['elapsed']:.1f} s = {throughput:.0f}/s; p50 {p50 * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms; statuses {result['statuses']}; verdicts {result['verdicts']} "
          f"({'all' if ok == result['sent'] else 'NOT all'} {expect})")
    print("  CPU per request: " + ", ".join(f"{k} {v * per:.2f} ms" for k, v in used.items()))
    return {"throughput": throughput, "p50": p50, "p99": p99, "all_ok": ok == result["sent"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=8)
    parser.add_argument("--classes", type=int, default=4, help="classes per school")
    parser.add_argument("--students", type=int, default=35, help="students per class")
    parser.add_argument("--rate", type=float, default=500.0, help="checks by code per second (open loop)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pdf-rate", type=float, default=50.0, help="uploads of issued PDFs per second")
    parser.add_argument("--pdf-seconds", type=float, default=60.0)
    parser.add_argument("--altered-seconds", type=float, default=20.0, help="0 to skip")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--port", type=int, default=5076)
    parser.add_argument("--responder-port", type=int, default=8796)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--server", choices=("console", "public"), default="console",
                        help="the whole console (one process, as sohoa serve), or the public check alone")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="processes of the public check alone (--server public)")
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PKI_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], Path(args.serve[1]), args.port, args.server, args.processes)
        return 0

    from core.storage.scratch import create_scratch_database, drop_scratch_database

    url = create_scratch_database(args.postgres, "sohoa_public")
    work = Path(tempfile.mkdtemp(prefix="sohoa-public-bench-"))
    server = responder = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stopped from outside: clean up all the same
    try:
        t0 = time.perf_counter()
        prepare(url, work / "pki", args.schools, args.classes, args.students, args.responder_port)
        documents = issued_documents(url)
        print(f"setup: {len(documents):,} transcripts issued through the workflow in {time.perf_counter() - t0:.0f} s")
        from core.signatures import DemoPKI
        from core.signatures.ltv_responder import LongTermResponder

        # the CA's own process as `sohoa pki serve` runs it: OCSP, the issuing CA's CRL and the root's
        # (a path's intermediate needs its revocation status too), timestamps
        responder = LongTermResponder(DemoPKI.load(work / "pki")).start(args.responder_port)
        t0 = time.perf_counter()
        cores = os.cpu_count() or 1
        codes = [c for c, _ in documents]
        with mp.get_context("spawn").Pool(cores) as pool:
            computed = sum(pool.map(_prime_worker, [(url, str(work / "pki"), codes[k::cores])
                                                    for k in range(cores)]))
        seconds = time.perf_counter() - t0
        print(f"verifications computed once and kept: {computed:,} in {seconds:.1f} s on {cores} cores "
              f"({seconds / max(computed, 1) * cores * 1000:.0f} ms of a core each: pyHanko and the trust policy)")
        server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(work / "pki"), "--port",
                                   str(args.port), "--server", args.server, "--processes", str(args.processes)],
                                  cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=open(work / "console.log", "wb"), start_new_session=True)
        signing_api._wait_for(f"http://127.0.0.1:{args.port}/verify", 120, "the console")
        import urllib.request
        t0 = time.perf_counter()
        for code in codes:  # warm-up: each code once, untimed (the kept verifications read into memory)
            urllib.request.urlopen(f"http://127.0.0.1:{args.port}/verify?code={code}", timeout=30).read()
        print(f"warm-up: {len(codes):,} codes each asked once in {time.perf_counter() - t0:.1f} s (console up)")
        rng = random.Random(1)
        by_code = [get_request(rng.choice(codes)) for _ in range(20_000)]
        results = {"code": phase("by code (GET /verify?code=)", server.pid, work, args.port, by_code, args.rate,
                                 args.seconds, args.concurrency, "valid")}
        uploads = [upload_request(pdf) for _, pdf in rng.sample(documents, min(len(documents), 500))]
        results["pdf"] = phase("genuine uploads (POST /verify)", server.pid, work, args.port, uploads, args.pdf_rate,
                               args.pdf_seconds, args.concurrency, "valid")
        if args.altered_seconds > 0:
            altered = [upload_request(pdf + b"\n% appended\n") for _, pdf in rng.sample(documents, min(len(documents), 20))]
            results["altered"] = phase("altered uploads (verified by pyHanko on the spot)", server.pid, work,
                                       args.port, altered, None, args.altered_seconds, 2, "altered")
        code, pdf = results["code"], results["pdf"]
        print(f"targets: by code {code['throughput']:.0f}/s with p99 {code['p99'] * 1000:.0f} ms "
              f"({'met' if code['throughput'] >= 0.98 * 500 and code['p99'] < 0.1 and code['all_ok'] else 'NOT met'}"
              f": ≥ 500/s, p99 < 100 ms); uploads {pdf['throughput']:.0f}/s, p99 {pdf['p99'] * 1000:.0f} ms "
              f"({'met' if pdf['throughput'] >= 0.98 * 50 and pdf['all_ok'] else 'NOT met'}: ≥ 50/s)")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        drop_scratch_database(args.postgres, url)
        if responder is not None:
            responder.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
