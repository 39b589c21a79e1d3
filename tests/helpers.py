"""What the tests and the benchmarks share: a free port, a Streamlit server on it, Chromium's arguments.

``tests/conftest.py`` wraps these in fixtures (``free_port``, ``store_home``, ``streamlit_server``); the scripts in
``benchmarks/`` import them from here (``sys.path`` gets ``tests/`` first), so there is one way to start the app.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from inception_explorer import settings

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# Without the networking flags, the closed network makes Chromium retry connections (shared/NOTES.md).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerDidNotStart(RuntimeError):
    """``streamlit run`` did not answer its health check in time; the message holds its log."""


@contextlib.contextmanager
def streamlit_process(
    home: Path | None = None, log_path: Path | None = None, timeout: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``streamlit run app.py`` on a free port with its store under ``home`` (a new temporary folder if None);
    yields (base URL, the server's process) once ``/_stcore/health`` answers, and stops it afterwards."""
    home = Path(home) if home is not None else Path(tempfile.mkdtemp())
    log_path = Path(log_path) if log_path is not None else home / "server.log"
    port = free_port()
    env = {**os.environ, settings.HOME: str(home)}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + timeout
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                        break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        raise ServerDidNotStart(
                            f"streamlit did not start within {timeout:.0f} s:\n" + log_path.read_text()
                        ) from None
                    time.sleep(0.2)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


# The Build page's sections (ui/widgets.section): built only while open, so a test opens the ones it uses.
BUILD_SECTIONS = ("findings", "diagram", "add", "stages", "network", "fit", "weights")


def open_build_sections(at, *names: str) -> None:
    """Open Build's sections in an AppTest session (all of them without ``names``), as a click on each would."""
    for name in names or BUILD_SECTIONS:
        assert name in BUILD_SECTIONS, name
        at.session_state[f"build.section.{name}.open"] = True
