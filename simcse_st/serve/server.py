"""Running the app with uvicorn: print the URL once listening, stop cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading

import uvicorn
from fastapi import FastAPI

GRACEFUL_SHUTDOWN_S = 2
"""Seconds open requests get to finish after Ctrl-C / SIGTERM before they are cancelled."""


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server (which stops on SIGINT and SIGTERM), printing the URL once it listens."""

    async def startup(self, sockets: list | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            port = self.servers[0].sockets[0].getsockname()[1] if self.servers else self.config.port
            sentences = len(self.config.app.state.index)
            print(f"Serving {sentences} sentences at {url(self.config.host, port)} (Ctrl-C stops)", flush=True)


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
