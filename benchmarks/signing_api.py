"""The city's bell against the signing API (issue 7's target on this 2-core machine with
PostgreSQL: 250,000 signed submissions in 5 minutes, ~830/s, p99 < 200 ms, nothing lost,
nothing duplicated).

1. Setup (untimed): a throwaway PostgreSQL database with generated schools whose week is
   still to be signed; every pending period's canonical bytes signed with its teacher's key
   (what the phones do before they send), tokens for every teacher.
2. The API runs as its own processes (``sohoa api --workers N``) on 127.0.0.1, its clock set
   to the end of that school day so the signatures are received the same day.
3. The load comes from a separate process: an open-loop schedule of ``--rate`` submissions a
   second (keep-alive HTTP/1.1 on uvloop, bounded in count and time), each with its own Idempotency-Key, retried
   with the same key on a 503 or a dropped connection.
4. Report: throughput, p50 / p99 latency, errors by status, and the count check — what the
   database holds against what was acknowledged (no acknowledged signature missing, no entry
   signed twice, one receipt per entry) and, with receipts on, that every acknowledged
   signature's receipt ends in a sealed batch and that every batch verifies (seal, timestamp,
   leaves, root, chain: ``core.logbook.receipts.receipt_discrepancies`` finds nothing).

``--receipts both`` (the default) runs the code as it was before receipts were sealed
(``SOHOA_RECEIPTS=off``: no leaf, no sealer) and with them (``on``: each receipt a leaf, a
sealer in each API process once a second, one CMS and one RFC 3161 timestamp per batch from the
demo TSA on 127.0.0.1), alternately, each on a fresh copy of the same setup; ``--rounds N``
repeats the pair.

Usage: python benchmarks/signing_api.py [--count 250000 --rate 834 --schools 1700 --workers 2 --keep-setup DIR
                                        --receipts both --rounds 1]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
ROOT = Path(__file__).resolve().parents[1]


def prepare(url: str, pki_dir: Path, schools: int, count: int, out: Path) -> dict:
    """Generate a city's Monday still to be signed, then what the phones send for it
    (core.demo.apps), written to the load file."""
    from core.demo.apps import phone_submissions
    from core.demo.synthetic import FIRST_MONDAY, Scale, generate
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade

    db = Database(make_engine(url))
    upgrade(db.engine)
    generate(db, Scale(districts=2, schools_per_district=max(1, schools // 2), classes_per_school=29, weeks=1,
                       students_per_class=3, seed=9, key_files=False),
             pki_dir=pki_dir, as_of=dt.datetime.combine(FIRST_MONDAY, dt.time(0, 1)), workers=os.cpu_count() or 1)
    subs = phone_submissions(db, pki_dir, FIRST_MONDAY, limit=count, progress=True,
                             token_time=dt.datetime.combine(FIRST_MONDAY, dt.time(12, 0)))
    clock = max(s.period_end for s in subs) + dt.timedelta(minutes=1)
    out.write_text(json.dumps([(s.entry_id, s.token, s.signature_b64) for s in subs]))
    db.engine.dispose()
    return {"entries": len(subs), "teachers": len({s.token for s in subs}), "day": str(FIRST_MONDAY),
            "clock": clock.isoformat()}


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the load client: a request written as prepared
    bytes, the answer's status read back. The client must cost little CPU — it shares the two
    cores with the API and PostgreSQL — so it is a bare protocol on uvloop rather than an HTTP
    library (aiohttp cost ~0.35 ms of CPU a request here, this ~0.1 ms). With ``keep_body`` (a
    subclass's) the answer is (status, body)."""

    keep_body = False

    def __init__(self):
        self.transport, self.buffer, self.waiter, self.lost = None, bytearray(), None, False

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).split(b"\r\n")
        length = next((int(h[15:]) for h in head[1:] if h[:15].lower() == b"content-length:"), 0)
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4:end + 4 + length]) if self.keep_body else None
        del self.buffer[:end + 4 + length]
        status = int(head[0].split()[1])
        self.waiter.set_result((status, body) if self.keep_body else status)

    def connection_lost(self, exc):
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the connection was closed"))

    async def send(self, request: bytes):
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


async def _drive(host: str, port: int, jobs: list, rate: float, deadline: float, concurrency: int) -> dict:
    """Open loop: submission n is due at start + n/rate; at most ``concurrency`` in flight (one
    per connection). Latency is measured from the moment a request is written until its answer;
    a 503 or a dropped connection is retried with the same Idempotency-Key."""
    loop = asyncio.get_running_loop()
    latencies, statuses, acked, timeline = [], {}, [], []
    idle: asyncio.Queue = asyncio.Queue()
    for _ in range(concurrency):
        idle.put_nowait(None)  # a slot; its connection is opened on first use

    async def one(entry_id, token, signature):
        body = b'{"signature":"' + signature.encode() + b'"}'
        request = (f"POST /api/v1/entries/{entry_id}/signature HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   f"Authorization: Bearer {token}\r\nIdempotency-Key: bell-{entry_id}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        conn = await idle.get()
        started = time.perf_counter()
        status = "dropped"
        for attempt in range(5):
            try:
                if conn is None or conn.lost:
                    _, conn = await loop.create_connection(_Connection, host, port)
                status = await asyncio.wait_for(conn.send(request), 30)
            except (OSError, ConnectionError, asyncio.TimeoutError):
                status, conn = "dropped", None
            if status not in (503, "dropped"):
                break
            await asyncio.sleep(0.2 * (attempt + 1))
        idle.put_nowait(conn)
        latencies.append(time.perf_counter() - started)
        timeline.append((started - start, latencies[-1]))
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            acked.append(entry_id)

    tasks = []
    start = time.perf_counter()
    for n, job in enumerate(jobs):
        due = start + n / rate
        now = time.perf_counter()
        if now > deadline:
            break
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.create_task(one(*job)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    return {"sent": len(tasks), "elapsed": elapsed, "latencies": latencies, "statuses": statuses, "acked": acked,
            "timeline": timeline}


def _client(args) -> dict:
    import uvloop

    port, path, rate, seconds, concurrency = args
    jobs = json.loads(Path(path).read_text())
    cpu = time.process_time()
    result = uvloop.run(_drive("127.0.0.1", port, jobs, rate, time.perf_counter() + seconds, concurrency))
    return {**result, "cpu": time.process_time() - cpu}


def _cpu_by_component(server_pid: int, name: str = "api") -> dict[str, dict[int, float]]:
    """CPU seconds (user + system) of every process of the server's tree (reported as ``name``)
    and of PostgreSQL, by pid (a connection's backend starts during the run: compare two
    readings pid by pid)."""
    import psutil

    try:
        server = psutil.Process(server_pid)
        procs = {name: [server, *server.children(recursive=True)]}
    except psutil.Error:
        procs = {name: []}
    procs["postgresql"] = [p for p in psutil.process_iter(["username"]) if p.info["username"] == "postgres"]
    out: dict[str, dict[int, float]] = {}
    for name, group in procs.items():
        out[name] = {}
        for proc in group:
            try:
                times = proc.cpu_times()
                out[name][proc.pid] = times.user + times.system
            except psutil.Error:
                pass
    return out


BACKENDS = "postgresql (this database's backends)"


def _database_backends(url: str) -> set[int]:
    """The pids of the PostgreSQL backends connected to ``url``'s database now."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND pid <> pg_backend_pid()")).scalars())
    finally:
        engine.dispose()


def _cpu_used(before: dict, after: dict) -> dict[str, float]:
    return {name: sum(seconds - before.get(name, {}).get(pid, 0.0) for pid, seconds in pids.items())
            for name, pids in after.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=250_000)
    parser.add_argument("--rate", type=float, default=834.0,
                        help="submissions per second (open loop; 834/s sends 250,000 in 300 s)")
    parser.add_argument("--seconds", type=float, default=305.0, help="stop sending after this long")
    parser.add_argument("--schools", type=int, default=1700, help="enough for --count periods on one Monday")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="API processes")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--window-ms", type=float, default=None, help="the API's batching window (default: its own)")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep-setup", type=Path, default=None, metavar="DIR",
                        help="keep the setup (a template database on the server, the keys and the load in DIR) "
                             "and reuse it on later runs with the same --schools and --count")
    parser.add_argument("--receipts", choices=["both", "on", "off"], default="both",
                        help="off: the code before receipts were sealed; on: receipts sealed; both: off then on")
    parser.add_argument("--rounds", type=int, default=1, help="how many times to run the mode(s)")
    parser.add_argument("--sized-postgres", action="store_true",
                        help="run on a private PostgreSQL cluster configured as docs/api.md recommends "
                             "(memory and WAL sized for the logbook) instead of --postgres")
    args = parser.parse_args()

    cluster = None
    if args.sized_postgres:
        from tests.pg_cluster import PrivatePostgres

        cluster = PrivatePostgres(SIZED_POSTGRES)
        args.postgres = cluster.url.replace("postgresql://", "postgresql+psycopg://")
        print(f"PostgreSQL: a private cluster with {SIZED_POSTGRES}")
    try:
        return _main(args)
    finally:
        if cluster is not None:
            cluster.stop()


#: What a production record store is given (docs/api.md): memory for the week's working set,
#: WAL room so that checkpoints come by time, not by volume, in the middle of the bell.
SIZED_POSTGRES = {"shared_buffers": "4GB", "max_wal_size": "16GB", "checkpoint_timeout": "30min",
                  "wal_compression": "on"}


def _main(args) -> int:
    from core.signatures import DemoPKI
    from core.signatures.responder import Responder, free_port
    from core.storage.scratch import create_scratch_database, drop_scratch_database

    if args.keep_setup is None:
        setup_url = create_scratch_database(args.postgres, "sohoa_api_setup")
        template, work = setup_url.rsplit("/", 1)[1], Path(tempfile.mkdtemp(prefix="sohoa-api-bench-"))
        t0 = time.perf_counter()
        info = prepare(setup_url, work / "pki", args.schools, args.count, work / "jobs.json")
        print(f"setup: {info['entries']:,} pending periods of {info['teachers']:,} teachers signed client-side "
              f"in {time.perf_counter() - t0:.0f} s (all on {info['day']}; the API's clock: {info['clock']})")
    else:
        template, work = _kept_setup(args)
        setup_url = None
        info = json.loads((work / "setup.json").read_text())
        print(f"setup: the kept one ({info['entries']:,} pending periods of {info['teachers']:,} "
              f"teachers on {info['day']}; the API's clock: {info['clock']})")
    modes = {"both": ["off", "on"], "on": ["on"], "off": ["off"]}[args.receipts] * args.rounds
    tsa_port = free_port()
    tsa = Responder(DemoPKI.load(work / "pki")).start(tsa_port) if "on" in modes else None
    results = []
    try:
        for n, mode in enumerate(modes):
            print(f"\n=== run {n + 1} of {len(modes)}: receipts {mode} "
                  + ("(as before: no leaf, no sealer)" if mode == "off" else "(each receipt a leaf; sealed once a "
                     "second by each API process: one CMS and one RFC 3161 timestamp a batch)"))
            url = create_scratch_database(args.postgres, "sohoa_api", template=template)
            try:
                results.append((mode, _run(args, url, work, info, mode, f"http://127.0.0.1:{tsa_port}/tsa")))
            finally:
                drop_scratch_database(args.postgres, url)
    finally:
        if tsa is not None:
            tsa.stop()
        if setup_url is not None:
            drop_scratch_database(args.postgres, setup_url)
    if len(results) > 1:
        print("\nsummary (same setup, same machine, same run):")
        for mode, r in results:
            api, backends = r["cpu"]["api"], r["cpu"][BACKENDS]
            print(f"  receipts {mode:>3}: {r['throughput']:.0f}/s, p50 {r['p50'] * 1000:.0f} ms, "
                  f"p99 {r['p99'] * 1000:.0f} ms, CPU a request: API {api:.2f} ms + its PostgreSQL backends "
                  f"{backends:.2f} ms = {api + backends:.2f} ms; count check {r['check'].split(':')[0]}")
    return 0 if all(r["check"].startswith("OK") for _, r in results) else 1


def _run(args, url: str, work: Path, info: dict, mode: str, tsa_url: str) -> dict:
    """One run of the bell against a fresh copy of the setup; its figures."""
    clock = dt.datetime.fromisoformat(info["clock"])
    from core.kernel import clock as core_clock
    offset = (clock - core_clock.now()).total_seconds()
    env = {**os.environ, "SOHOA_DATABASE_URL": url, "SOHOA_PKI_DIR": str(work / "pki"),
           "SOHOA_CLOCK_OFFSET_SECONDS": str(offset), "SOHOA_RECEIPTS": mode,
           "SOHOA_SEAL_PIN": "1234", "SOHOA_TSA_URL": tsa_url}
    if args.window_ms is not None:
        env["SOHOA_API_BATCH_WINDOW_MS"] = str(args.window_ms)
    log = work / f"api-{mode}.log"
    server = subprocess.Popen([sys.executable, "-m", "core.cli", "api", "--port", str(args.port),
                               "--workers", str(args.workers)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=open(log, "wb"), start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{args.port}/openapi.json")
        # as before the first bell of a day: each API process has checked the registered
        # certificates' chains (GET /api/v1/health says so; new connections reach both workers)
        t0 = time.perf_counter()
        _wait_ready(f"http://127.0.0.1:{args.port}/api/v1/health")
        print(f"API ready in {time.perf_counter() - t0:.1f} s after it answered (certificates checked)")
        before = _cpu_by_component(server.pid)
        here = time.process_time()  # this process: the demo TSA's thread (the client is a process of its own)
        with mp.get_context("spawn").Pool(1) as pool:  # the load comes from a separate process
            result = pool.apply(_client, ((args.port, str(work / "jobs.json"), args.rate,
                                           args.seconds, args.concurrency),))
        after = _cpu_by_component(server.pid)
        used = _cpu_used(before, after)
        # the server is shared (other databases, other users): this run's own part is what the
        # backends of its database used
        ours = _database_backends(url)
        used[BACKENDS] = sum(
            seconds - before["postgresql"].get(pid, 0.0) for pid, seconds in after["postgresql"].items() if pid in ours)
        used["postgresql (the whole server)"] = used.pop("postgresql")
        used["load client"] = result["cpu"]
        if mode == "on":
            used["timestamp authority"] = time.process_time() - here
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # an orderly stop: the sealers seal what is left
        server.wait(timeout=120)
    lat = sorted(result["latencies"])
    p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1] if lat else float("nan")
    throughput = result["sent"] / result["elapsed"]
    print(f"sent {result['sent']:,} in {result['elapsed']:.1f} s = {throughput:.0f}/s; "
          f"acknowledged {len(result['acked']):,}; p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms; "
          f"statuses {result['statuses']}")
    print("p50 / p99 by 10 s of the run: " + "; ".join(
        f"{t:.0f}s {p50_ * 1000:.0f}/{p99_ * 1000:.0f} ms" for t, p50_, p99_ in _by_period(result["timeline"], 10)))
    per = 1000 / max(result["sent"], 1)
    cpu = {name: seconds * per for name, seconds in used.items()}
    print("CPU per request: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu.items())
          + f" (2 cores give {2000 / throughput:.2f} ms per request at this rate)")
    for line in (log.read_text(errors="replace").splitlines() if log.exists() else []):
        for what in ("batcher:", "sealer:"):
            if what in line:
                print("API " + line[line.index(what):])
    check = _count_check(url, set(result["acked"]), receipts=mode == "on", pki_dir=work / "pki")
    print(f"count check: {check}")
    return {"throughput": throughput, "p50": p50, "p99": p99, "cpu": cpu, "check": check}


def _kept_setup(args) -> tuple[str, Path]:
    """The kept setup's template database (made first if there is none yet) and the directory of
    its keys and load."""
    import psycopg

    name = f"sohoa_api_setup_{args.schools}_{args.count}"
    work = args.keep_setup / name
    server = args.postgres.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(server, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if not (exists and (work / "setup.json").exists()):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
            exists = False
    if not exists:
        t0 = time.perf_counter()
        work.mkdir(parents=True, exist_ok=True)
        info = prepare(server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name,
                       work / "pki", args.schools, args.count, work / "jobs.json")
        (work / "setup.json").write_text(json.dumps(info))
        print(f"setup (kept as database {name} and {work}): {info['entries']:,} pending periods of "
              f"{info['teachers']:,} teachers signed client-side in {time.perf_counter() - t0:.0f} s")
    return name, work


def _by_period(timeline: list, seconds: float) -> list[tuple[float, float, float]]:
    """(period start, p50, p99) of the latencies of requests sent in each period of the run."""
    periods: dict[int, list[float]] = {}
    for sent_at, latency in timeline:
        periods.setdefault(int(sent_at // seconds), []).append(latency)
    out = []
    for k in sorted(periods):
        lat = sorted(periods[k])
        out.append((k * seconds, lat[len(lat) // 2], lat[max(0, int(len(lat) * 0.99) - 1)]))
    return out


def _wait_for(url: str, seconds: float = 60, what: str = "the API") -> None:
    import urllib.request

    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer at {url}")


def _wait_ready(url: str, seconds: float = 600, in_a_row: int = 20) -> None:
    import urllib.request

    end, ready = time.time() + seconds, 0
    while time.time() < end and ready < in_a_row:
        answer = json.loads(urllib.request.urlopen(url, timeout=5).read())
        ready = ready + 1 if answer["ready"] else 0
        time.sleep(0.05 if answer["ready"] else 0.5)
    if ready < in_a_row:
        raise RuntimeError("the API processes did not become ready")


def _count_check(url: str, acked: set[int], *, receipts: bool = False, pki_dir: Path | None = None) -> str:
    """What landed against what was acknowledged; with ``receipts``, also that every acknowledged
    signature's receipt is sealed and that the record store's receipts and batches all verify."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        signed = {r[0] for r in conn.execute(text(
            "SELECT id FROM logbook_entry WHERE signature IS NOT NULL AND status IN ('on_time', 'late') "
            "AND signed_at >= (SELECT min(received_at) FROM submission)"))} if acked else set()
        receipts_kept = conn.execute(text("SELECT count(*), count(DISTINCT entry_id) FROM submission")).one()
        sealed = {r[0] for r in conn.execute(text("SELECT entry_id FROM submission WHERE batch_id IS NOT NULL"))}
        batches = conn.execute(text("SELECT count(*) FROM receipt_batch")).scalar_one()
    missing = acked - signed
    unacked = signed - acked
    ok = not missing and receipts_kept[0] == receipts_kept[1] == len(signed)
    text_ = (f"acknowledged {len(acked):,}, signed in the database {len(signed):,}, "
             f"acknowledged but missing {len(missing)}, receipts {receipts_kept[0]:,} for {receipts_kept[1]:,} entries "
             f"(signed but not acknowledged: {len(unacked)} — requests cut off by the time bound)")
    if receipts:
        from core.logbook.receipts import receipt_discrepancies
        from core.signatures import DemoPKI
        from core.storage.db import Database

        db = Database(engine)
        t0 = time.perf_counter()
        with db.reading() as session:
            found = receipt_discrepancies(session, DemoPKI.load(pki_dir).trust_store())
        unsealed = acked - sealed
        ok = ok and not unsealed and not found and sealed == signed
        text_ += (f"; receipts sealed {len(sealed):,} in {batches:,} batches, acknowledged but not sealed "
                  f"{len(unsealed)}, discrepancies {len(found)} (every batch and receipt verified in "
                  f"{time.perf_counter() - t0:.0f} s)" + "".join(f"\n    {d}" for d in found[:5]))
    engine.dispose()
    return ("OK: " if ok else "FAILED: ") + text_


if __name__ == "__main__":
    sys.exit(main())
