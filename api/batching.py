"""Submitted signatures gathered for a few milliseconds and settled together by
:func:`core.logbook.submissions.submit_signatures` — one transaction for up to ``max_batch``
signatures — which is how one process keeps up with a city's bell (docs/api.md). A request is
answered only after its batch has committed: an acknowledged signature is in the database.

Each event loop that serves the app has its own lane — a queue and the task that gathers it —
so a submission never crosses threads: asyncio's queues and futures are not thread-safe, and a
put from another thread does not wake a loop asleep in ``select``. One process can serve an app
from several loops: a test client beside schemathesis' ASGI client (each runs the lifespan on
its own loop thread), a uvicorn started without the lifespan. With one shared queue, replaced by
each lifespan's start, a submission from the first loop went to the second loop's queue and its
answer to a future of the first from the second's thread; both wake-ups were lost and the request
waited for ever (the schemathesis test's valid signature sent after its run).

Every submission is answered: with its batch's answers, with the error its batch raised, or —
its lane stopped or broken before its batch was settled — a retryable 503 (nothing was written)."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from contextlib import suppress
from dataclasses import dataclass

from core.kernel.errors import Unavailable
from core.logbook.submissions import SignatureSubmission, submit_signatures
from core.storage.db import Database

_log = logging.getLogger("sohoa.api")


def _not_settled() -> Unavailable:
    return Unavailable("the signature was not settled (the server is stopping); retry with the same Idempotency-Key",
                       message_vi="Chữ ký chưa được ghi nhận (máy chủ đang dừng); hãy gửi lại với cùng Idempotency-Key")


@dataclass
class _Lane:
    """One event loop's queue and the task gathering it into batches."""

    queue: asyncio.Queue
    task: asyncio.Task


class Batcher:
    """Gathers submitted signatures for a few milliseconds and settles them in one transaction
    on a worker thread; each request waits for its own answer, on its own event loop."""

    def __init__(self, db: Database, trust, *, window: float = 0.004, max_batch: int = 256, pipeline: int = 1,
                 receipts: bool = True):
        self.db, self.trust, self.window, self.max_batch, self.pipeline = db, trust, window, max_batch, pipeline
        self.receipts = receipts  # each receipt a leaf for the sealer (core.logbook.receipts)
        self.lanes: dict[asyncio.AbstractEventLoop, _Lane] = {}
        self._lanes_lock = threading.Lock()
        # at most ``pipeline`` batches in the database at once for the whole process, whichever
        # lanes they come from (one writer at a time on the embedded SQLite)
        self._in_database = threading.Semaphore(pipeline)
        self.batches = self.items = 0
        self.settle_seconds = 0.0

    def start(self) -> None:
        """The running loop's lane (the lifespan's start; a loop that never ran the lifespan
        gets its lane at its first submission)."""
        self._lane()

    def _lane(self) -> _Lane:
        loop = asyncio.get_running_loop()
        lane = self.lanes.get(loop)
        if lane is None or lane.task.done():  # a lane that broke is replaced (its waiters were answered)
            queue: asyncio.Queue = asyncio.Queue()
            lane = _Lane(queue, loop.create_task(self._run(queue), name="signature-batcher"))
            with self._lanes_lock:
                self.lanes[loop] = lane
        return lane

    def depth(self) -> int:
        """Submissions waiting to be gathered, over every loop's lane."""
        with self._lanes_lock:
            lanes = list(self.lanes.values())
        return sum(lane.queue.qsize() for lane in lanes)

    async def stop(self) -> None:
        """Stop the running loop's lane (the lifespan's end): what it had not yet settled is
        answered 503, what is settling is answered when its transaction ends."""
        with self._lanes_lock:
            lane = self.lanes.pop(asyncio.get_running_loop(), None)
        if lane is not None:
            lane.task.cancel()
            with suppress(asyncio.CancelledError):
                await lane.task
        if self.batches:
            _log.warning("batcher: %d signatures in %d batches (mean %.1f), settling took %.1f ms a batch on average",
                         self.items, self.batches, self.items / self.batches, 1000 * self.settle_seconds / self.batches)

    async def submit(self, token: str, entry_id: int, signature: bytes, key: str, received_at: dt.datetime):
        """Queue one submission (its bearer token is resolved with the rest of the batch)."""
        future = asyncio.get_running_loop().create_future()
        self._lane().queue.put_nowait(((token, entry_id, signature, key, received_at), future))
        return await future

    def _settle(self, raw: list[tuple]) -> list:
        """One transaction for the batch, its tokens included; each item judged at its own
        receipt time."""
        with self._in_database:
            return submit_signatures(self.db, self.trust, [
                SignatureSubmission(None, entry_id, signature, key, received_at, token=token)
                for token, entry_id, signature, key, received_at in raw], max(r[4] for r in raw),
                receipts=self.receipts)

    async def _run(self, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        in_flight = asyncio.Semaphore(self.pipeline)
        settling: set[asyncio.Task] = set()  # referenced until done (the loop keeps only weak ones)

        def settled(task: asyncio.Task) -> None:
            settling.discard(task)
            in_flight.release()

        batch: list = []
        try:
            while True:
                batch = [await queue.get()]
                deadline = loop.time() + self.window
                while len(batch) < self.max_batch:
                    timeout = deadline - loop.time()
                    if timeout <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(queue.get(), timeout))
                    except asyncio.TimeoutError:
                        break
                # up to ``pipeline`` batches in the database at once: the next one gathers while the
                # previous commits (the same entry in two batches is serialised by its row lock)
                await in_flight.acquire()
                task = loop.create_task(self._settle_batch(batch))
                settling.add(task)
                task.add_done_callback(settled)
                batch = []
        except Exception:  # a bug: logged, its waiters answered below, the next submission starts a new lane
            _log.exception("batcher: the lane stopped")
        finally:  # stopped or broken: no submission it holds waits for ever
            while not queue.empty():
                batch.append(queue.get_nowait())
            error = _not_settled()
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)

    async def _settle_batch(self, batch: list) -> None:
        started = time.perf_counter()
        try:
            answers = await asyncio.get_running_loop().run_in_executor(None, self._settle, [b[0] for b in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} signatures had {len(answers)} answers")
            self.batches, self.items = self.batches + 1, self.items + len(batch)
            self.settle_seconds += time.perf_counter() - started
        except BaseException as err:  # the database is away, or a bug: every waiter hears it
            for _, future in batch:
                if not future.done():
                    future.set_exception(err if isinstance(err, Exception) else _not_settled())
            if not isinstance(err, Exception):
                raise
            return
        for (_, future), answer in zip(batch, answers):
            if not future.done():
                future.set_result(answer)
