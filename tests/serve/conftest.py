"""Fixtures of the service tests: a small corpus of six topics (and one sentence of markup), its index on
all-MiniLM-L6-v2, a live ``simcse-st serve --api-key`` process on 127.0.0.1 shared by the load test and the browser
test, a TestClient of an app, and a gate that holds the encoder inside a search until the test opens it."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from simcse_st.serve.server import Launched, launch, stop
from tests.conftest import REPO_ROOT

# six topics of five sentences: k-means and the map have clear groups, and each query has one obvious answer
CORPUS = [
    "A man is playing an acoustic guitar on stage.",
    "The orchestra performed a symphony by Beethoven.",
    "She sings in a jazz band every Friday night.",
    "The drummer kept a steady rhythm throughout the concert.",
    "A pianist practises scales before the recital.",
    "The chef is slicing onions for the soup.",
    "Fresh bread is baking in the oven.",
    "He stirred the pasta sauce and added garlic.",
    "The recipe calls for two cups of flour.",
    "A woman is frying eggs in a pan.",
    "The stock market fell sharply on Monday.",
    "Investors worry about rising interest rates.",
    "The central bank raised its key lending rate.",
    "Shares of the tech company doubled this year.",
    "Inflation reached its highest level in a decade.",
    "Two dogs are running through the snow.",
    "A cat is sleeping on the windowsill.",
    "The horse galloped across the field.",
    "A flock of birds flew south for the winter.",
    "The puppy is chewing on a bone.",
    "The striker scored a goal in the final minute.",
    "The tennis player won the championship in straight sets.",
    "Runners lined up at the start of the marathon.",
    "The basketball team lost in overtime.",
    "A cyclist climbed the steep mountain pass.",
    "Heavy rain is expected across the region tomorrow.",
    "A thunderstorm knocked out power in the city.",
    "The temperature dropped below freezing overnight.",
    "Strong winds blew down several trees.",
    "The sun came out after a week of clouds.",
]
MARKUP = """Type <img src=x onerror="document.title='pwned'"> & <b>bold</b> to embed an image."""
"""A corpus sentence of HTML: the page must show it as text (in the hit list, the map's hover and legend)."""
CORPUS.append(MARKUP)
QUERIES = {  # query -> the corpus sentence a person expects first
    "Someone is strumming a guitar in front of an audience.": "A man is playing an acoustic guitar on stage.",
    "A kitten naps by the window.": "A cat is sleeping on the windowsill.",
    "Share prices dropped a lot at the start of the week.": "The stock market fell sharply on Monday.",
    "It will pour with rain in the area tomorrow.": "Heavy rain is expected across the region tomorrow.",
    "A woman cooks eggs in a frying pan.": "A woman is frying eggs in a pan.",
    "The football forward scored late in the match.": "The striker scored a goal in the final minute.",
}


STOP_WITHIN_S = 5.0  # Ctrl-C or SIGTERM shuts the server down within this many seconds
API_KEY = "test-key-0123456789"  # the live server's --api-key
LOCAL = "http://localhost"  # a Host the app answers (TestClient's default, testserver, is refused)
GATE_TIMEOUT_S = 120.0  # a gate or a state not reached within this is a failure, not a hang


def client_of(app):
    """A TestClient of ``app`` addressed as localhost (use it in a ``with`` block)."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url=LOCAL)


class Gate:
    """Holds ``index.search`` on the encoder thread until :meth:`open`: while it is held, the requests that come
    in queue up, deterministically (no sleeps).

    Attributes:
        entered: set once a search is held.
    """

    def __init__(self, index, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered, self._opened = threading.Event(), threading.Event()
        search = index.search

        def held(*args, **kwargs):
            self.entered.set()
            assert self._opened.wait(GATE_TIMEOUT_S), "the gate was never opened"
            return search(*args, **kwargs)

        monkeypatch.setattr(index, "search", held)

    def open(self) -> None:
        """Let the held search, and every one after it, run."""
        self._opened.set()


def wait_until(condition, what: str) -> None:
    """Wait until ``condition()`` holds (a state of the server), failing after GATE_TIMEOUT_S."""
    event = threading.Event()
    for _ in range(int(GATE_TIMEOUT_S * 100)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError(f"{what} did not happen within {GATE_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="session")
def minilm(minilm_path: Path):
    """all-MiniLM-L6-v2 as a SentenceTransformer, loaded once."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path))


@pytest.fixture(scope="session")
def corpus_index(minilm, minilm_path: Path):
    """The reference: a SemanticIndex of CORPUS on all-MiniLM-L6-v2, built in the test process."""
    from simcse_st.apps import SemanticIndex

    return SemanticIndex(minilm, CORPUS, model_name=str(minilm_path), show_progress_bar=False)


def start_server(argv: list[str]) -> Launched:
    """``simcse-st serve ARGV --port 0`` in a child process running this checkout, once it prints its URL."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return launch([*argv, "--port", "0"], timeout=180, env=env)


def stop_server(server: Launched, sig: int) -> None:
    """Stop the server with ``sig`` (SIGINT is Ctrl-C): it must shut down within 5 s and exit with status 0 (Python's
    exit after the shutdown, unloading torch, takes a second more on an idle machine and is not counted: on these
    loaded 2-core machines the whole exit sometimes took more than 5 s)."""
    assert stop(server.process, sig) < STOP_WITHIN_S


@pytest.fixture(scope="session")
def live_server(corpus_index, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    """``simcse-st serve --index DIR --api-key API_KEY`` on a free port of 127.0.0.1 (PCA map of 6 clusters), DIR
    being ``corpus_index`` saved (the server loads all-MiniLM-L6-v2 from the name stored in it); stopped with
    SIGTERM at the end, which must shut it down within 5 s."""
    directory = corpus_index.save(tmp_path_factory.mktemp("serve-index") / "index")
    server = start_server(["--index", str(directory), "--map-method", "pca", "--n-clusters", "6",
                           "--api-key", API_KEY])
    yield server
    stop_server(server, signal.SIGTERM)
