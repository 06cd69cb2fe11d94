"""Submitted signatures gathered for a few milliseconds and settled together by
:func:`core.logbook.submissions.submit_signatures` — one transaction for up to ``max_batch``
signatures — which is how one process keeps up with a city's bell (docs/api.md). A request is
answered only after its batch has committed: an acknowledged signature is in the database."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from core.logbook.submissions import SignatureSubmission, submit_signatures
from core.storage.db import Database


class Batcher:
    """Gathers submitted signatures for a few milliseconds and settles them in one transaction
    on a worker thread; each request waits for its own answer."""

    def __init__(self, db: Database, trust, *, window: float = 0.004, max_batch: int = 256, pipeline: int = 1,
                 receipts: bool = True):
        self.db, self.trust, self.window, self.max_batch, self.pipeline = db, trust, window, max_batch, pipeline
        self.receipts = receipts  # each receipt a leaf for the sealer (core.logbook.receipts)
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.batches = self.items = 0
        self.settle_seconds = 0.0

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        if self.batches:
            logging.getLogger("sohoa.api").warning(
                "batcher: %d signatures in %d batches (mean %.1f), settling took %.1f ms a batch on average",
                self.items, self.batches, self.items / self.batches, 1000 * self.settle_seconds / self.batches)

    async def submit(self, token: str, entry_id: int, signature: bytes, key: str, received_at: dt.datetime):
        """Queue one submission (its bearer token is resolved with the rest of the batch)."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(((token, entry_id, signature, key, received_at), future))
        return await future

    def _settle(self, raw: list[tuple]) -> list:
        """One transaction for the batch, its tokens included; each item judged at its own
        receipt time."""
        return submit_signatures(self.db, self.trust, [
            SignatureSubmission(None, entry_id, signature, key, received_at, token=token)
            for token, entry_id, signature, key, received_at in raw], max(r[4] for r in raw), receipts=self.receipts)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        in_flight = asyncio.Semaphore(self.pipeline)
        while True:
            first = await self.queue.get()
            batch = [first]
            deadline = loop.time() + self.window
            while len(batch) < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            # up to ``pipeline`` batches in the database at once: the next one gathers while the
            # previous commits (the same entry in two batches is serialised by its row lock)
            await in_flight.acquire()
            task = loop.create_task(self._settle_batch(batch))
            task.add_done_callback(lambda _t: in_flight.release())

    async def _settle_batch(self, batch: list) -> None:
        started = time.perf_counter()
        try:
            answers = await asyncio.get_running_loop().run_in_executor(None, self._settle, [b[0] for b in batch])
            self.batches, self.items = self.batches + 1, self.items + len(batch)
            self.settle_seconds += time.perf_counter() - started
        except Exception as err:  # noqa: BLE001 - the database is away: every waiter hears it
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        for (_, future), answer in zip(batch, answers):
            if not future.done():
                future.set_result(answer)
