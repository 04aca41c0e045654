"""The micro-batcher: concurrent requests share one call of the function and each gets its own slice back; switched
off, each request runs alone; a failure reaches only the request that caused it. The work queue lets in what fits.
And search_queries answers queries with different options as separate searches do."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from simcse_st.serve.batching import MicroBatcher, QueueFull, SearchQuery, WorkQueue, search_queries
from tests.serve.conftest import CORPUS, QUERIES


@pytest.fixture
def encoder():
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


class Recorder:
    """Squares numbers, recording the batches it was called with (and failing on a negative number)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.lock = threading.Lock()

    def __call__(self, items: list[int]) -> list[int]:
        with self.lock:
            self.batches.append(list(items))
        if any(item < 0 for item in items):
            raise ValueError("negative")
        return [item * item for item in items]


async def submit_all(batcher: MicroBatcher, requests: list[list[int]]) -> list:
    return await asyncio.gather(*(batcher.submit(items) for items in requests), return_exceptions=True)


def test_concurrent_requests_share_one_call_and_get_their_own_results(encoder):
    function = Recorder()
    batcher = MicroBatcher(function, encoder, max_wait=0.01)
    requests = [[i, i + 100] for i in range(16)]
    results = asyncio.run(submit_all(batcher, requests))
    assert results == [[a * a, b * b] for a, b in requests]
    assert function.batches == [[item for items in requests for item in items]]
    assert (batcher.calls, batcher.requests) == (1, 16)


def test_a_batch_holds_at_most_max_items(encoder):
    function = Recorder()
    batcher = MicroBatcher(function, encoder, max_wait=0.01, max_items=5)
    results = asyncio.run(submit_all(batcher, [[i, i] for i in range(6)]))
    assert results == [[i * i, i * i] for i in range(6)]
    assert [len(batch) for batch in function.batches] == [4, 4, 4]


def test_switched_off_each_request_runs_alone(encoder):
    function = Recorder()
    batcher = MicroBatcher(function, encoder, enabled=False)
    results = asyncio.run(submit_all(batcher, [[i] for i in range(5)]))
    assert results == [[i * i] for i in range(5)]
    assert sorted(function.batches) == [[i] for i in range(5)]
    assert batcher.calls == 5


def test_a_failure_reaches_only_the_request_that_caused_it_and_the_next_batch_works(encoder):
    function = Recorder()
    batcher = MicroBatcher(function, encoder, max_wait=0.01)

    async def scenario():
        answers = await submit_all(batcher, [[1, 2], [-1], [3]])
        return answers, await batcher.submit([4])

    answers, after = asyncio.run(scenario())
    assert answers[0] == [1, 4] and answers[2] == [9]
    assert isinstance(answers[1], ValueError)
    assert function.batches[0] == [1, 2, -1, 3]  # they shared a batch, which failed, then ran alone
    assert after == [16]


def test_the_work_queue_lets_in_what_fits_and_one_request_when_empty():
    queue = WorkQueue(max_items=4)
    with queue.hold(3):
        with pytest.raises(QueueFull):
            with queue.hold(2):
                pass
        with queue.hold(1):
            assert queue.queued == 4
    assert queue.queued == 0
    with queue.hold(10):  # larger than the bound, but nothing else waits
        assert queue.queued == 10
    assert queue.queued == 0


def test_search_queries_with_different_options_equal_separate_searches(corpus_index):
    queries = [SearchQuery(query, top_k, threshold)
               for query, (top_k, threshold) in zip(QUERIES, [(1, None), (3, None), (7, 0.3), (len(CORPUS), None),
                                                              (5, 0.99), (2, -1.0)], strict=True)]
    for got, q in zip(search_queries(corpus_index, queries), queries, strict=True):
        want = corpus_index.search(q.query, top_k=q.top_k, threshold=q.threshold)[0]
        assert [hit.position for hit in got] == [hit.position for hit in want]
        assert [hit.score for hit in got] == pytest.approx([hit.score for hit in want], abs=1e-5)


def test_search_queries_searches_each_query_with_its_own_top_k_in_one_encoder_call(corpus_index, monkeypatch):
    """An approximate backend gathers candidates by top_k: a query sharing a batch with a larger top_k must still be
    searched with its own, so that its hits do not depend on its batch-mates; the batch is still encoded once."""
    calls = []
    search = corpus_index.search
    monkeypatch.setattr(corpus_index, "search",
                        lambda texts, top_k: calls.append((list(texts), top_k)) or search(texts, top_k=top_k))
    queries = list(QUERIES)
    search_queries(corpus_index, [SearchQuery(queries[0], 3, None), SearchQuery(queries[1], 10, 0.2),
                                  SearchQuery(queries[2], 3, 0.1)])
    assert calls == [([queries[0], queries[1], queries[2]], [3, 10, 3])]
