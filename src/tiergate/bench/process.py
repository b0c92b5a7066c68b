"""Run ``tiergate serve`` (or any tiergate command) as a child process on loopback.

The demo and the benchmarks talk to the gateway over HTTP like any caller, so they
start it the way an operator would: a separate process, readiness checked on
``GET /healthz``, stopped with SIGTERM so that the ledger flushes before exit. The
child's output goes to a log file, which is quoted when it fails to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import aiohttp

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
# ``python -c`` rather than the console script, so the child runs the same
# interpreter and installation as the caller even when ``tiergate`` is not on PATH.
_CLI = ("-c", "from tiergate.cli import main; main()")


class ProcessStartError(RuntimeError):
    """The child exited or never became ready; the message quotes its log."""


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free a moment ago (the OS picks it). Another process may take
    it before the child binds; the child then fails to start and says so."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_block(count: int, host: str = LOOPBACK, tries: int = 50) -> int:
    """The first of ``count`` consecutive ports that were all free a moment ago, for
    children that bind a run of ports from a base (the simulated fleet). Raises
    ``OSError`` when no free run is found."""
    rng = random.SystemRandom()
    for _ in range(tries):
        base = rng.randrange(20_000, 60_000 - count)
        if all(_bindable(host, port) for port in range(base, base + count)):
            return base
    raise OSError(f"found no {count} consecutive free ports on {host}")


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def tiergate_command(*args: str) -> list[str]:
    """The argv that runs ``tiergate <args>`` with this interpreter."""
    return [sys.executable, *_CLI, *args]


def serve_args(
    port: int,
    *,
    host: str = LOOPBACK,
    sim: bool = True,
    config: Path | None = None,
    ledger: str | None = None,
) -> list[str]:
    """Arguments of ``tiergate serve`` for a gateway on ``host:port``."""
    args = ["serve", "--host", host, "--port", str(port)]
    if sim:
        # Ephemeral fleet ports, so a demo never collides with another fleet.
        args += ["--sim", "--sim-base-port", "0"]
    if config is not None:
        args += ["--config", str(config)]
    if ledger is not None:
        args += ["--ledger", ledger]
    return args


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


class ChildProcess:
    """One tiergate child process, ready once ``ready_url`` answers 200.

    Use as ``async with ChildProcess(...) as child:``; leaving the block sends
    SIGTERM and waits, then kills the child if it does not exit in time.
    """

    def __init__(
        self,
        args: Sequence[str],
        ready_url: str,
        log_path: Path,
        *,
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 30.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.args = list(args)
        self.ready_url = ready_url
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.env = env
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        """Spawn the child and wait until it is ready.

        Raises ``ProcessStartError`` (with the log's tail) when it exits first or is
        not ready within ``start_timeout_s``.
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                tiergate_command(*self.args),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})},
            )
        logger.debug("started %s (pid %d)", self.args[0], self._proc.pid)
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.poll() is not None:
                    raise self._failure(f"exited with status {self._proc.returncode}")
                if await self._answers(session):
                    return
                await asyncio.sleep(0.1)
        await self.stop()
        raise self._failure(f"not ready after {self.start_timeout_s:.0f} s")

    async def _answers(self, session: aiohttp.ClientSession) -> bool:
        timeout = aiohttp.ClientTimeout(total=2)
        try:
            async with session.get(self.ready_url, timeout=timeout) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    def _failure(self, what: str) -> ProcessStartError:
        command = " ".join(["tiergate", *self.args])
        return ProcessStartError(
            f"`{command}` {what}; its log ({self.log_path}) ends with:\n"
            + _tail(self.log_path)
        )

    async def stop(self) -> int | None:
        """SIGTERM, wait up to ``stop_timeout_s``, then SIGKILL. Returns the exit
        status (``None`` when it was never started); safe to call twice."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.stop_timeout_s
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                logger.warning("pid %d ignored SIGTERM; killing it", proc.pid)
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        return proc.returncode

    async def __aenter__(self) -> ChildProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def gateway_process(
    log_path: Path,
    *,
    host: str = LOOPBACK,
    port: int | None = None,
    sim: bool = True,
    config: Path | None = None,
    ledger: str | None = None,
    start_timeout_s: float = 60.0,
) -> tuple[ChildProcess, str]:
    """A not-yet-started ``tiergate serve`` child and the ``/v1`` base URL it will
    serve at."""
    port = port or free_port(host)
    args = serve_args(port, host=host, sim=sim, config=config, ledger=ledger)
    child = ChildProcess(
        args,
        f"http://{host}:{port}/healthz",
        log_path,
        start_timeout_s=start_timeout_s,
    )
    return child, f"http://{host}:{port}/v1"
