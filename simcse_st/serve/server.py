"""Running the app with uvicorn: print the URL once listening, stop cleanly on Ctrl-C or SIGTERM; and running
``simcse-st serve`` as a child process (for tests, benchmarks and scripts)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from typing import NamedTuple

import uvicorn
from fastapi import FastAPI

GRACEFUL_SHUTDOWN_S = 2
"""Seconds open requests get to finish after Ctrl-C / SIGTERM before they are cancelled."""


STOPPED = "Stopped serving"
"""What the server prints once it has shut down (before Python unloads its modules, which takes a second more)."""


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server (which stops on SIGINT and SIGTERM), printing the URL once it listens and
    :data:`STOPPED` once it has shut down."""

    async def startup(self, sockets: list | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            port = self.servers[0].sockets[0].getsockname()[1] if self.servers else self.config.port
            sentences = len(self.config.app.state.index)
            print(f"Serving {sentences} sentences at {url(self.config.host, port)} (Ctrl-C stops)", flush=True)

    async def shutdown(self, sockets: list | None = None) -> None:
        await super().shutdown(sockets)
        print(STOPPED, flush=True)


def url(host: str, port: int) -> str:
    """The address to open in a browser (a wildcard host is shown as 127.0.0.1)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` (from :func:`~simcse_st.serve.create_app`) on ``host:port`` until Ctrl-C or SIGTERM.

    ``port=0`` picks a free port; the printed URL names it.
    """
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, timeout_keep_alive=5)
    server = AnnouncingServer(config)
    if threading.current_thread() is not threading.main_thread():
        server.run()
        return
    # uvicorn shuts down gracefully on SIGINT / SIGTERM, then raises the signal again for the handler that was
    # installed before it: here one that ends serve() normally, so the command exits with status 0
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Stopped(Exception):
    """Raised by the SIGTERM handler once uvicorn has shut down."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped


class Launched(NamedTuple):
    """A ``simcse-st serve`` child process and the URL it printed."""

    process: subprocess.Popen
    url: str


def launch(argv: list[str], timeout: float = 300.0, env: dict[str, str] | None = None) -> Launched:
    """Run ``simcse-st serve ARGV`` in a child process (Python's ``-m simcse_st.cli``) and wait until it listens.

    Args:
        argv: the command's arguments, e.g. ``["MODEL", "--corpus", "corpus.txt", "--port", "0"]``.
        timeout: seconds to wait for the URL it prints when ready.
        env: the child's environment (default: this process's).

    Returns:
        The process (its stdout is read until the URL; stderr is discarded) and the URL.

    Raises:
        RuntimeError: when it exits or prints no URL within ``timeout`` (it is killed then).
    """
    process = subprocess.Popen([sys.executable, "-m", "simcse_st.cli", "serve", *argv], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.extend(_first_url(process.stdout)), daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        process.kill()
        process.wait()
        raise RuntimeError(f"`simcse-st serve {' '.join(argv)}` printed no URL within {timeout:.0f} s")
    return Launched(process, found[0])


def stop(process: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 60.0) -> float:
    """Send ``sig`` (SIGINT is Ctrl-C) to a launched server and wait for it to exit.

    Returns:
        The seconds until it had shut down (it printed :data:`STOPPED`: its socket closed, its requests answered);
        Python's exit (unloading torch) follows and is not counted.

    Raises:
        RuntimeError: when it does not exit within ``timeout`` (it is killed then) or exits with a non-zero status.
    """
    started = time.monotonic()
    stopped: list[float] = []
    reader = threading.Thread(target=lambda: stopped.extend(time.monotonic() for line in process.stdout or ()
                                                            if line.startswith(STOPPED)), daemon=True)
    reader.start()
    process.send_signal(sig)
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RuntimeError(f"the server did not stop within {timeout} s of {signal.Signals(sig).name}") from None
    reader.join(timeout)
    if code != 0:
        raise RuntimeError(f"the server exited with status {code} on {signal.Signals(sig).name}")
    return (stopped[0] if stopped else time.monotonic()) - started


def _first_url(lines: Iterable[str]) -> list[str]:
    """The first ``http://`` word of ``lines`` (as a list of one, or empty when they end without one)."""
    for line in lines:
        for word in line.split():
            if word.startswith("http://"):
                return [word]
    return []
