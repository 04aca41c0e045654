"""The micro-batcher: concurrent requests share one call of the encoder.

The encoder's forward pass is the cost of a query; one pass over 16 queries costs far less than 16 passes. So
requests that arrive within a few milliseconds of each other (or while the encoder is busy with the previous
batch) are queued, concatenated and run as one call on the single encoder thread, and each request gets its
slice of the results back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from simcse_st.index import Hit, SemanticIndex

Item = TypeVar("Item")
Result = TypeVar("Result")


class SearchQuery(NamedTuple):
    """One query of a search request, with that request's options."""

    query: str
    top_k: int
    threshold: float | None


def search_queries(index: SemanticIndex, queries: Sequence[SearchQuery]) -> list[list[Hit]]:
    """Answer queries with different ``top_k`` and ``threshold`` through one :meth:`SemanticIndex.search` call.

    The index is searched once for all queries with the largest ``top_k``; as hits come best first, each query's
    first ``top_k`` hits above its threshold are what a search with its own options returns.
    """
    hits = index.search([q.query for q in queries], top_k=max(q.top_k for q in queries))
    return [
        [hit for hit in found[: q.top_k] if q.threshold is None or hit.score >= q.threshold]
        for q, found in zip(queries, hits, strict=True)
    ]


@dataclass(frozen=True)
class _Waiting(Generic[Item, Result]):
    """A request waiting for its batch: its items, the future of its results, when it arrived (loop time)."""

    items: list[Item]
    future: asyncio.Future[list[Result]]
    arrived: float


class MicroBatcher(Generic[Item, Result]):
    """Runs ``function`` on the items of concurrent :meth:`submit` calls together.

    Args:
        function: maps a list of items to one result per item, in order (e.g. :func:`search_queries`).
        executor: where ``function`` runs (the service's single encoder thread, so the model runs one call at
            a time).
        enabled: when False, every call runs ``function`` on its own items alone (the baseline of the benchmark).
        max_wait: seconds a batch stays open for more requests after the first one arrives.
        max_items: items in one batch at most; more wait for the next batch.

    Attributes:
        calls: how many times ``function`` ran.
        requests: how many :meth:`submit` calls were answered.
    """

    def __init__(
        self,
        function: Callable[[list[Item]], list[Result]],
        executor: Executor,
        enabled: bool = True,
        max_wait: float = 0.002,
        max_items: int = 256,
    ) -> None:
        self.function = function
        self.executor = executor
        self.enabled = enabled
        self.max_wait = max_wait
        self.max_items = max_items
        self.calls = 0
        self.requests = 0
        self._pending: list[_Waiting[Item, Result]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, items: list[Item]) -> list[Result]:
        """The results of ``items``, computed in a batch with the items of concurrent calls.

        Raises:
            Exception: whatever ``function`` raised for the batch.
        """
        loop = asyncio.get_running_loop()
        if not self.enabled:
            return await self._run(loop, items, requests=1)
        future: asyncio.Future[list[Result]] = loop.create_future()
        self._pending.append(_Waiting(items, future, loop.time()))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Run batches until no request is waiting."""
        loop = asyncio.get_running_loop()
        while self._pending:
            # requests arriving within max_wait of the oldest waiting one join its batch; requests that queued
            # while the encoder ran the previous batch have waited long enough and go at once
            await asyncio.sleep(max(0.0, self._pending[0].arrived + self.max_wait - loop.time()))
            batch = self._take()
            flat = [item for waiting in batch for item in waiting.items]
            try:
                results = await self._run(loop, flat, requests=len(batch))
            except Exception as error:  # noqa: BLE001  (handed to every request of the batch)
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(error)
                continue
            start = 0
            for waiting in batch:
                if not waiting.future.done():  # a client that went away leaves a cancelled future
                    waiting.future.set_result(results[start : start + len(waiting.items)])
                start += len(waiting.items)

    def _take(self) -> list[_Waiting[Item, Result]]:
        """The oldest waiting requests, as many as fit in ``max_items`` (at least one)."""
        count, size = 0, 0
        while count < len(self._pending) and (count == 0 or size + len(self._pending[count].items) <= self.max_items):
            size += len(self._pending[count].items)
            count += 1
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    async def _run(self, loop: asyncio.AbstractEventLoop, items: list[Item], requests: int) -> list[Result]:
        results = await loop.run_in_executor(self.executor, self.function, items)
        self.calls += 1
        self.requests += requests
        return results
