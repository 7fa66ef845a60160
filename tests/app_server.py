"""Start the real app (`python app.py --weights random --device cpu`) in a subprocess for end-to-end tests and benches.

    from tests.app_server import running_app

    with running_app() as url:          # waits for HTTP 200 on /, always stops the process on exit
        Client(url).predict(...)

`AppServer` is the same thing as an object (`.url`, `.printed_url`, `.log()`), for callers that need the log.
The server gets its own GRADIO_TEMP_DIR, removed afterwards, so tests never share upload caches with a running app.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
URL_LINE = re.compile(r"Running on local URL:\s*(\S+)")

# Talk to 127.0.0.1 directly, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _http_status(url: str, timeout: float = 5.0) -> int | None:
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError):
        return None


class AppServer:
    """One app process. `start()` returns once GET / answers 200; `stop()` always ends the process (TERM, then KILL)."""

    def __init__(self, args: Sequence[str] = ("--weights", "random", "--device", "cpu"), *,
                 port: int | None = None, timeout: float = START_TIMEOUT_S, env: dict[str, str] | None = None):
        self.args = list(args)
        self.port = port
        self.timeout = timeout
        self.extra_env = dict(env or {})
        self.url: str | None = None
        self.printed_url: str | None = None
        self.proc: subprocess.Popen | None = None
        self._tmp: Path | None = None
        self._log_path: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def start(self) -> "AppServer":
        attempts = 1 if self.port else 3  # a free port can be taken between choosing it and binding it: retry
        for attempt in range(attempts):
            try:
                self._start_once(self.port or free_port())
                return self
            except _PortTaken:
                self.stop()
                if attempt == attempts - 1:
                    raise RuntimeError("could not bind a free port for the app:\n" + self.log()[-3000:]) from None
            except BaseException:
                self.stop()
                raise
        return self

    def _start_once(self, port: int) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="gx-app-"))
        self._log_path = self._tmp / "app.log"
        env = {
            **os.environ,
            "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_TEMP_DIR": str(self._tmp / "gradio"),
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            **self.extra_env,
        }
        with open(self._log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "app.py", *self.args, "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends it and anything it started, by id
            )
        host = "127.0.0.1"
        if "--host" in self.args:
            host = self.args[self.args.index("--host") + 1]
        self.url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
        deadline = time.monotonic() + self.timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                text = self.log()
                if "address already in use" in text.lower() or "cannot find empty port" in text.lower():
                    raise _PortTaken()
                raise RuntimeError(f"app exited with code {code} before serving:\n{text[-4000:]}")
            if _http_status(self.url + "/") == 200:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"app did not answer 200 on {self.url}/ within {self.timeout:.0f} s:\n"
                                   + self.log()[-4000:])
            time.sleep(0.5)
        # The URL line is printed just before the server accepts requests; give the pipe a moment to flush.
        for _ in range(20):
            match = URL_LINE.search(self.log())
            if match:
                self.printed_url = match.group(1).rstrip("/")
                break
            time.sleep(0.25)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
                try:
                    os.killpg(proc.pid, sig)  # the group this Popen created (start_new_session), nothing else
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        if self._tmp is not None:
            self._saved_log = self.log()
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            self._log_path = None

    def __enter__(self) -> "AppServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- inspection --------------------------------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        if self._log_path is not None and self._log_path.exists():
            return self._log_path.read_text(errors="replace")
        return getattr(self, "_saved_log", "")


class _PortTaken(Exception):
    pass


@contextlib.contextmanager
def running_app(*extra_args: str, timeout: float = START_TIMEOUT_S) -> Iterator[str]:
    """Start `python app.py --weights random --device cpu [extra_args]` on a free port; yield its URL."""
    with AppServer(["--weights", "random", "--device", "cpu", *extra_args], timeout=timeout) as server:
        yield server.url  # type: ignore[misc]


if __name__ == "__main__":  # manual use: python tests/app_server.py, Ctrl-C to stop
    with AppServer() as srv:
        print(f"serving on {srv.url} (printed: {srv.printed_url}); Ctrl-C stops it", flush=True)
        try:
            while srv.alive():
                time.sleep(1)
        except KeyboardInterrupt:
            pass
