"""The micro-batcher: concurrent requests share one call of the encoder.

The encoder's forward pass is the cost of a query; one pass over 16 queries costs far less than 16 passes. So
requests that arrive within a few milliseconds of each other (or while the encoder is busy with the previous
batch) are queued, concatenated and run as one call on the single encoder thread, and each request gets its
slice of the results back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
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
    """Answer queries with different ``top_k`` and ``threshold`` in one :meth:`SemanticIndex.search` call (one
    encoder pass), each query searched with its own ``top_k`` and filtered by its own threshold.

    A query's hits never depend on the other queries of its batch: the index searches each group of equal
    ``top_k`` apart, so an approximate backend (HNSW, IVF-PQ) gathers a query's candidates from its own ``top_k``.
    """
    found = index.search([q.query for q in queries], top_k=[q.top_k for q in queries])
    return [[hit for hit in hits if q.threshold is None or hit.score >= q.threshold]
            for q, hits in zip(queries, found, strict=True)]


class QueueFull(Exception):
    """Raised by :meth:`WorkQueue.hold` when the queue has no room for a request's texts."""


class WorkQueue:
    """Counts the texts of the requests waiting for (or in) the encoder, and refuses more than ``max_items``.

    A request is let in when its texts fit, or when nothing else waits (so one request larger than the bound is
    still served, alone).

    Attributes:
        queued: texts held now.
    """

    def __init__(self, max_items: int) -> None:
        if max_items < 1:
            raise ValueError(f"The queue must hold at least 1 text, got max_items={max_items}.")
        self.max_items = max_items
        self.queued = 0

    @contextmanager
    def hold(self, items: int) -> Iterator[None]:
        """Hold room for ``items`` texts while the block runs.

        Raises:
            QueueFull: when they do not fit beside the texts already held.
        """
        if self.queued and self.queued + items > self.max_items:
            raise QueueFull(f"{self.queued} texts are queued, at most {self.max_items}")
        self.queued += items
        try:
            yield
        finally:
            self.queued -= items


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
            Exception: whatever ``function`` raised for these items (run alone after their batch failed).
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
            except Exception as error:  # noqa: BLE001  (answered to the request that caused it)
                await self._answer_alone(loop, batch, error)
                continue
            start = 0
            for waiting in batch:
                _settle(waiting.future, results[start : start + len(waiting.items)])
                start += len(waiting.items)

    async def _answer_alone(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting[Item, Result]],
                            error: Exception) -> None:
        """After ``batch`` failed with ``error``: run each of its requests alone, so that each gets its own results
        or its own error."""
        if len(batch) == 1:
            _settle(batch[0].future, error=error)
            return
        for waiting in batch:
            if waiting.future.done():  # its client went away
                continue
            try:
                _settle(waiting.future, await self._run(loop, waiting.items, requests=1))
            except Exception as alone:  # noqa: BLE001  (this request's own error)
                _settle(waiting.future, error=alone)

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


def _settle(future: asyncio.Future[list[Result]], results: list[Result] | None = None,
            error: Exception | None = None) -> None:
    """Give ``future`` its results or its error, unless its client went away (a cancelled future)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(results)
