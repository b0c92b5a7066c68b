"""What the gateway adds: the same load straight to an upstream and through tiergate.

Starts two child processes: a zero-latency simulated upstream (``tiergate sim
--zero-latency``) and one gateway process whose config has a single deployment
pointing at it (requests name ``deepseek-v4-flash`` explicitly, so routing is
trivial). The load generator runs here, on aiohttp directly, so that the client is
lean enough not to be the bottleneck. For non-streaming and streaming requests:

(a) open loop at fixed arrival rates (100 and 500 requests/s by default) for
    ``--duration`` seconds each, requests sent at their scheduled arrival time
    whatever the state of earlier ones; prints p50/p99 of each path and the
    difference (what the gateway adds);
(b) closed loop at concurrency 32 for ``--duration`` seconds; prints the requests/s
    each path sustains.

Targets (issue 2, one gateway process): added p50 < 1 ms and added p99 < 3 ms at
500 requests/s, and >= 1,500 requests/s sustained through the gateway. The figures
depend on the machine: every process here shares the same cores, and nothing is
pinned.

Usage::

    python scripts/bench_gateway.py [--duration 10] [--rates 100,500]
        [--concurrency 32] [--warmup 2] [--no-ledger] [--json FILE]
        [--overlay FILE.yaml]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import numpy as np
import orjson
import yaml
from rich.console import Console
from rich.table import Table

from tiergate.bench.process import ChildProcess, free_port, free_port_block

HOST = "127.0.0.1"
MODEL = "deepseek-v4-flash"
PROMPT = "Say hello in one short sentence."
FLEET_PORTS = 16  # 5 providers x 3 regions + the admin port below them
TARGET_P50_MS = 1.0
TARGET_P99_MS = 3.0
TARGET_RPS = 1500.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Target:
    """One path under test: where to POST, and the processes that serve it (name ->
    pid) so that their CPU time per request can be reported."""

    name: str
    url: str
    processes: dict[str, int]
    model: str = MODEL


@dataclass(slots=True)
class OpenLoopResult:
    path: str
    stream: bool
    rate: float
    sent: int
    errors: int
    p50_ms: float
    p99_ms: float
    lag_p99_ms: float


@dataclass(slots=True)
class ClosedLoopResult:
    path: str
    stream: bool
    concurrency: int
    completed: int
    errors: int
    requests_per_s: float
    p50_ms: float
    # CPU time (user + system) each serving process spent per completed request.
    cpu_ms_per_request: dict[str, float]


def request_body(stream: bool, model: str = MODEL) -> bytes:
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 16,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


HEADERS = {"content-type": "application/json", "authorization": "Bearer bench"}


async def one_request(
    session: aiohttp.ClientSession, url: str, body: bytes
) -> tuple[float, bool]:
    """Latency in ms to the last byte of the response, and whether it was a 200."""
    start = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=HEADERS) as response:
            await response.read()
            ok = response.status == 200
    except aiohttp.ClientError:
        ok = False
    return (time.perf_counter() - start) * 1000, ok


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def open_loop(
    session: aiohttp.ClientSession,
    target: Target,
    stream: bool,
    rate: float,
    duration_s: float,
) -> OpenLoopResult:
    """Send at fixed arrival times (i / rate), never waiting for earlier answers."""
    body = request_body(stream, target.model)
    count = int(rate * duration_s)
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    tasks: set[asyncio.Task[None]] = set()

    async def fire(scheduled: float) -> None:
        nonlocal errors
        lags.append((time.perf_counter() - scheduled) * 1000)
        latency, ok = await one_request(session, target.url, body)
        if ok:
            latencies.append(latency)
        else:
            errors += 1

    start = time.perf_counter()
    for index in range(count):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(fire(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return OpenLoopResult(
        target.name,
        stream,
        rate,
        count,
        errors,
        percentile(latencies, 50),
        percentile(latencies, 99),
        percentile(lags, 99),
    )


async def closed_loop(
    session: aiohttp.ClientSession,
    target: Target,
    stream: bool,
    concurrency: int,
    duration_s: float,
) -> ClosedLoopResult:
    """``concurrency`` workers, each sending its next request when one finishes."""
    body = request_body(stream, target.model)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            latency, ok = await one_request(session, target.url, body)
            if ok:
                latencies.append(latency)
            else:
                errors += 1

    cpu_before = {name: cpu_seconds(pid) for name, pid in target.processes.items()}
    own_before = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    done = max(len(latencies), 1)
    cpu = {
        name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / done
        for name, pid in target.processes.items()
    }
    cpu["generator"] = (time.process_time() - own_before) * 1000 / done
    return ClosedLoopResult(
        target.name,
        stream,
        concurrency,
        len(latencies),
        errors,
        len(latencies) / elapsed,
        percentile(latencies, 50),
        cpu,
    )


def gateway_config(
    upstream_base_url: str, port: int, ledger: str | None
) -> dict[str, Any]:
    """One simulated deployment serving one model; nothing to choose between."""
    return {
        "listen": {"host": HOST, "port": port},
        "providers": {
            "bench": {
                "simulated": True,
                "deployments": [
                    {
                        "base_url": upstream_base_url,
                        "region": "us-east",
                        "models": {MODEL: MODEL},
                        "max_connections": 512,
                    }
                ],
            }
        },
        "ledger": {"enabled": ledger is not None, "url": ledger or "sqlite:///unused"},
        "access_log": False,
    }


async def start_children(
    workdir: Path, with_ledger: bool, overlay: dict[str, Any]
) -> tuple[ChildProcess, ChildProcess, Target, Target]:
    """The zero-latency upstream, then the gateway pointed at its deepseek/us-east
    endpoint. Returns both children (started) and the two targets."""
    base = free_port_block(FLEET_PORTS) + 1  # the admin API sits just below
    upstream_url = f"http://{HOST}:{base}/v1"  # layout: deepseek/us-east comes first
    upstream = ChildProcess(
        ["sim", "--zero-latency", "--host", HOST, "--base-port", str(base)],
        f"http://{HOST}:{base}/healthz",
        workdir / "upstream.log",
    )
    await upstream.start()

    port = free_port(HOST)
    ledger = f"sqlite:///{workdir / 'ledger.sqlite'}" if with_ledger else None
    config_path = workdir / "gateway.yaml"
    config = {**gateway_config(upstream_url, port, ledger), **overlay}
    config_path.write_text(yaml.safe_dump(config))
    gateway = ChildProcess(
        ["serve", "--config", str(config_path), "--host", HOST, "--port", str(port)],
        f"http://{HOST}:{port}/healthz",
        workdir / "gateway.log",
    )
    try:
        await gateway.start()
    except BaseException:
        await upstream.stop()
        raise
    pids = {"upstream": upstream.pid or 0}
    direct = Target("direct", f"{upstream_url}/chat/completions", pids)
    through = Target(
        "gateway",
        f"http://{HOST}:{port}/v1/chat/completions",
        {"gateway": gateway.pid or 0, **pids},
    )
    return upstream, gateway, direct, through


async def warm(session: aiohttp.ClientSession, target: Target, seconds: float) -> None:
    """Open connections and fill caches before measuring (results discarded)."""
    for stream in (False, True):
        await closed_loop(session, target, stream, 32, seconds / 2)


@dataclass(slots=True)
class Figures:
    """Every phase's result; each list alternates direct, gateway."""

    open_loop: list[OpenLoopResult]
    closed_loop: list[ClosedLoopResult]


async def run_phases(
    session: aiohttp.ClientSession,
    paths: tuple[Target, Target],
    args: argparse.Namespace,
    console: Console,
) -> Figures:
    """Non-streaming then streaming: each open-loop rate, then the closed loop, each
    phase run on the direct path and then through the gateway."""
    rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    figures = Figures([], [])
    for stream in (False, True):
        for rate in rates:
            console.print(f"open loop {rate:.0f} req/s, stream={stream}")
            for target in paths:
                figures.open_loop.append(
                    await open_loop(session, target, stream, rate, args.duration)
                )
        console.print(f"closed loop concurrency {args.concurrency}, stream={stream}")
        for target in paths:
            figures.closed_loop.append(
                await closed_loop(
                    session, target, stream, args.concurrency, args.duration
                )
            )
    return figures


async def measure(args: argparse.Namespace, console: Console) -> Figures:
    """Start both children, warm both paths, run every phase, stop the children."""
    with tempfile.TemporaryDirectory(prefix="tiergate-bench-") as tmp:
        workdir = Path(tmp)
        overlay = yaml.safe_load(args.overlay.read_text()) if args.overlay else {}
        upstream, gateway, direct, through = await start_children(
            workdir, not args.no_ledger, overlay or {}
        )
        through = dataclasses.replace(through, model=args.gateway_model)
        console.print(
            f"upstream pid {upstream.pid} at {direct.url}\n"
            f"gateway  pid {gateway.pid} at {through.url}"
        )
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
        timeout = aiohttp.ClientTimeout(total=30)
        try:
            async with aiohttp.ClientSession(
                connector=connector, timeout=timeout
            ) as session:
                await warm(session, direct, args.warmup)
                await warm(session, through, args.warmup)
                return await run_phases(session, (direct, through), args, console)
        finally:
            await gateway.stop()
            await upstream.stop()


def verdict(ok: bool) -> str:
    return "[green]PASS[/]" if ok else "[red]FAIL[/]"


def open_table(results: list[OpenLoopResult]) -> tuple[Table, bool]:
    table = Table(title="(a) open loop: latency to the last byte, ms")
    for column in (
        "stream",
        "rate/s",
        "direct p50",
        "gateway p50",
        "added p50",
        "direct p99",
        "gateway p99",
        "added p99",
        "errors",
        "send lag p99",
        "target",
    ):
        table.add_column(column, justify="right")
    passed = True
    for direct, through in zip(results[::2], results[1::2], strict=True):
        added50 = through.p50_ms - direct.p50_ms
        added99 = through.p99_ms - direct.p99_ms
        target = "-"
        if direct.rate >= 500:
            ok = added50 < TARGET_P50_MS and added99 < TARGET_P99_MS
            passed &= ok
            target = f"<{TARGET_P50_MS:g} / <{TARGET_P99_MS:g} {verdict(ok)}"
        table.add_row(
            "yes" if direct.stream else "no",
            f"{direct.rate:.0f}",
            f"{direct.p50_ms:.2f}",
            f"{through.p50_ms:.2f}",
            f"{added50:+.2f}",
            f"{direct.p99_ms:.2f}",
            f"{through.p99_ms:.2f}",
            f"{added99:+.2f}",
            f"{direct.errors}/{through.errors}",
            f"{max(direct.lag_p99_ms, through.lag_p99_ms):.2f}",
            target,
        )
    return table, passed


def closed_table(results: list[ClosedLoopResult]) -> tuple[Table, bool]:
    table = Table(title="(b) closed loop: sustained requests/s")
    for column in (
        "stream",
        "concurrency",
        "direct req/s",
        "gateway req/s",
        "gateway p50 ms",
        "CPU ms/req: gateway",
        "upstream",
        "generator",
        "errors",
        "target",
    ):
        table.add_column(column, justify="right")
    passed = True
    for direct, through in zip(results[::2], results[1::2], strict=True):
        ok = through.requests_per_s >= TARGET_RPS
        passed &= ok
        table.add_row(
            "yes" if direct.stream else "no",
            str(direct.concurrency),
            f"{direct.requests_per_s:,.0f}",
            f"{through.requests_per_s:,.0f}",
            f"{through.p50_ms:.2f}",
            f"{through.cpu_ms_per_request['gateway']:.3f}",
            f"{direct.cpu_ms_per_request['upstream']:.3f}",
            f"{through.cpu_ms_per_request['generator']:.3f}",
            f"{direct.errors}/{through.errors}",
            f">={TARGET_RPS:,.0f} {verdict(ok)}",
        )
    return table, passed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="s per phase")
    parser.add_argument("--rates", default="100,500", help="open-loop arrival rates")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0, help="s per path")
    parser.add_argument(
        "--no-ledger", action="store_true", help="run the gateway without a ledger"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--gateway-model",
        default=MODEL,
        help="model sent through the gateway: 'auto' adds classification to the path",
    )
    parser.add_argument(
        "--overlay",
        type=Path,
        help="YAML whose top-level sections replace those of the generated gateway "
        "config (e.g. a classifier or ledger section)",
    )
    return parser.parse_args()


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when installed: the generator needs every spare cycle."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> int:
    args = parse_args()
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    console.print(
        f"tiergate gateway overhead: {os.cpu_count()} CPUs shared by the upstream, "
        "the gateway and this load generator (nothing pinned); upstream is "
        f"SIMULATED with zero latency; load average before start {load}"
    )
    figures = run_loop(measure(args, console))
    open_view, open_ok = open_table(figures.open_loop)
    closed_view, closed_ok = closed_table(figures.closed_loop)
    console.print(open_view)
    console.print(closed_view)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    console.print(f"overall: {verdict(open_ok and closed_ok)} (load average {load})")
    if args.json:
        args.json.write_bytes(orjson.dumps(asdict(figures), option=orjson.OPT_INDENT_2))
    return 0 if open_ok and closed_ok else 1


if __name__ == "__main__":
    sys.exit(main())
