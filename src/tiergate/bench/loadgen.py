"""A closed-loop load generator that talks to a gateway like any caller would.

It uses the official ``openai`` client (one shared ``AsyncOpenAI`` whose connection
pool is sized to the concurrency), sends ``model="auto"`` unless told otherwise, and
marks every request with its caller's region through the ``x-tiergate-region``
header. Latency here is measured at the client and is only a cross-check: the
figures the reports print come from the gateway's ledger.

Errors are counted in the outcomes, never raised, so a run under faults finishes and
shows what failed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tiergate.bench.workload import WorkloadRow

logger = logging.getLogger(__name__)

REGIONS: tuple[str, ...] = ("us-east", "eu-west", "apac")
REGION_HEADER = "x-tiergate-region"


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One request to send: which workload row, from which region, and how."""

    index: int
    row: WorkloadRow
    region: str
    stream: bool
    max_tokens: int


@dataclass(slots=True)
class Outcome:
    """What the caller saw for one request.

    ``status`` is the HTTP status, 0 when no response arrived (connection error or
    client timeout). ``error`` names the exception class when the request failed,
    including a stream that broke after a 200.
    """

    index: int
    region: str
    stream: bool
    status: int
    latency_ms: float
    ttft_ms: float | None = None
    tier: str | None = None
    model: str | None = None
    deployment: str | None = None
    served_region: str | None = None
    request_id: str | None = None
    output_tokens: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass(slots=True)
class LoadResult:
    """Every outcome of a run plus its wall-clock span (epoch seconds)."""

    outcomes: list[Outcome]
    started_at: float
    finished_at: float
    concurrency: int

    @property
    def elapsed_s(self) -> float:
        return self.finished_at - self.started_at

    @property
    def ok_count(self) -> int:
        return sum(outcome.ok for outcome in self.outcomes)

    @property
    def errors(self) -> Counter[str]:
        """Failed requests by ``"<status> <error>"``."""
        return Counter(
            f"{o.status} {o.error or ''}".strip() for o in self.outcomes if not o.ok
        )

    @property
    def requests_per_s(self) -> float:
        return len(self.outcomes) / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How to drive the load. ``max_retries`` is the openai client's own retry
    count; the default 0 shows the gateway's availability as it is."""

    concurrency: int = 64
    timeout_s: float = 30.0
    max_retries: int = 0
    model: str = "auto"
    api_key: str = "tiergate-loadgen"
    extra_headers: dict[str, str] = field(default_factory=dict)


def plan_requests(
    rows: Sequence[WorkloadRow],
    count: int,
    *,
    seed: int = 0,
    regions: Sequence[str] = REGIONS,
    stream_share: float = 0.5,
    max_tokens: int = 32,
) -> list[RequestSpec]:
    """``count`` requests cycling over a seeded shuffle of ``rows``, spread evenly
    over ``regions`` in a seeded order, a ``stream_share`` of them streaming."""
    if not rows:
        raise ValueError("the workload is empty")
    rng = random.Random(seed)
    order = rng.sample(range(len(rows)), len(rows))
    spread = [regions[i % len(regions)] for i in range(count)]
    rng.shuffle(spread)
    return [
        RequestSpec(
            index=i,
            row=rows[order[i % len(order)]],
            region=spread[i],
            stream=rng.random() < stream_share,
            max_tokens=max_tokens,
        )
        for i in range(count)
    ]


def plan_per_region(
    rows: Sequence[WorkloadRow],
    per_region: int,
    regions: Sequence[str],
    **kwargs: Any,
) -> list[RequestSpec]:
    """Exactly ``per_region`` requests from each region, interleaved (the brief's
    method: N requests per region, all regions under load at once)."""
    return plan_requests(rows, per_region * len(regions), regions=regions, **kwargs)


def build_client(base_url: str, options: LoadOptions) -> Any:
    """One ``AsyncOpenAI`` client whose pool holds ``concurrency`` keep-alive
    connections. The aiohttp transport the openai package ships is used because it
    costs less CPU per request than httpx, which matters when the generator shares
    two cores with the gateway."""
    import httpx2
    import openai

    limits = httpx2.Limits(
        max_connections=options.concurrency,
        max_keepalive_connections=options.concurrency,
    )
    http_client = openai.DefaultAioHttpClient(limits=limits, timeout=options.timeout_s)
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key=options.api_key,
        max_retries=options.max_retries,
        timeout=options.timeout_s,
        http_client=http_client,
    )


def error_name(exc: BaseException) -> str:
    """The exception's class, plus the root cause's when that says more.

    The aiohttp transport reports a refused connection as a connect timeout, so
    the root cause (``ConnectionRefusedError``) is what tells the two apart.
    """
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    if root is exc or not isinstance(root, OSError):
        return type(exc).__name__
    return f"{type(exc).__name__}({type(root).__name__})"


def _with_headers(outcome: Outcome, headers: Mapping[str, str]) -> Outcome:
    """``outcome`` with the gateway's routing headers copied in."""
    outcome.tier = headers.get("x-tiergate-tier")
    outcome.model = headers.get("x-tiergate-model")
    outcome.deployment = headers.get("x-tiergate-deployment")
    outcome.served_region = headers.get("x-tiergate-region")
    outcome.request_id = headers.get("x-request-id")
    return outcome


def _elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


async def _send_plain(
    client: Any, spec: RequestSpec, kwargs: dict[str, Any]
) -> Outcome:
    start = time.perf_counter()
    raw = await client.chat.completions.with_raw_response.create(**kwargs)
    usage = raw.parse().usage
    outcome = Outcome(
        index=spec.index,
        region=spec.region,
        stream=False,
        status=raw.status_code,
        latency_ms=_elapsed_ms(start),
        output_tokens=usage.completion_tokens if usage else None,
    )
    return _with_headers(outcome, raw.headers)


async def _send_stream(
    client: Any, spec: RequestSpec, kwargs: dict[str, Any]
) -> Outcome:
    start = time.perf_counter()
    raw = await client.chat.completions.with_raw_response.create(
        **kwargs, stream=True, stream_options={"include_usage": True}
    )
    ttft: float | None = None
    tokens: int | None = None
    async for chunk in raw.parse():
        if ttft is None and chunk.choices:
            ttft = _elapsed_ms(start)
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    outcome = Outcome(
        index=spec.index,
        region=spec.region,
        stream=True,
        status=raw.status_code,
        latency_ms=_elapsed_ms(start),
        ttft_ms=ttft,
        output_tokens=tokens,
    )
    return _with_headers(outcome, raw.headers)


async def send_one(client: Any, spec: RequestSpec, options: LoadOptions) -> Outcome:
    """Send one request and describe what came back; never raises for a failed
    request (HTTP errors, timeouts, broken streams become an ``Outcome``)."""
    import httpx2
    import openai

    kwargs: dict[str, Any] = {
        "model": options.model,
        "messages": spec.row.messages,
        "max_tokens": spec.max_tokens,
        "extra_headers": {**options.extra_headers, REGION_HEADER: spec.region},
    }
    start = time.perf_counter()
    headers: Mapping[str, str] = {}
    status = 0
    error: Exception
    try:
        if spec.stream:
            return await _send_stream(client, spec, kwargs)
        return await _send_plain(client, spec, kwargs)
    except openai.APIStatusError as exc:
        status, headers, error = exc.status_code, exc.response.headers, exc
    except (openai.APIError, httpx2.HTTPError, httpx2.StreamError) as exc:
        # A transport error in the middle of a stream reaches us unwrapped.
        error = exc
    logger.debug("request %d failed: %r", spec.index, error)
    outcome = Outcome(
        index=spec.index,
        region=spec.region,
        stream=spec.stream,
        status=status,
        latency_ms=_elapsed_ms(start),
        error=error_name(error),
    )
    return _with_headers(outcome, headers)


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>7.1f} req/s"),
        TextColumn("[red]{task.fields[errors]} errors"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


class _Tracker:
    """Keeps the progress bars current: one overall task, optionally one per
    region."""

    def __init__(
        self, progress: Progress | None, specs: Sequence[RequestSpec], by_region: bool
    ) -> None:
        self.progress = progress
        self.started = time.perf_counter()
        self.errors = Counter[str]()
        self.done = Counter[str]()
        self.tasks: dict[str, TaskID] = {}
        if progress is None:
            return
        totals = Counter(spec.region for spec in specs) if by_region else {}
        self.tasks["*"] = progress.add_task(
            "all regions", total=len(specs), rate=0.0, errors=0
        )
        for region, total in totals.items():
            self.tasks[region] = progress.add_task(
                region, total=total, rate=0.0, errors=0
            )

    def record(self, outcome: Outcome) -> None:
        if self.progress is None:
            return
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        for key in ("*", outcome.region):
            if key not in self.tasks:
                continue
            self.done[key] += 1
            self.errors[key] += not outcome.ok
            self.progress.update(
                self.tasks[key],
                advance=1,
                rate=self.done[key] / elapsed,
                errors=self.errors[key],
            )


async def run_load(
    base_url: str,
    specs: Sequence[RequestSpec],
    options: LoadOptions | None = None,
    *,
    console: Console | None = None,
    show_progress: bool = True,
    progress_by_region: bool = False,
) -> LoadResult:
    """Send ``specs`` through ``base_url`` (e.g. ``http://127.0.0.1:8080/v1``) with
    ``options.concurrency`` requests in flight, each worker sending its next request
    as soon as the previous one finished. Returns the outcomes in ``specs`` order."""
    options = options or LoadOptions()
    client = build_client(base_url, options)
    pending: Iterator[RequestSpec] = iter(specs)
    outcomes: list[Outcome] = []
    progress = _progress(console) if show_progress else None
    tracker = _Tracker(progress, specs, progress_by_region)

    async def worker() -> None:
        for spec in pending:
            outcome = await send_one(client, spec, options)
            outcomes.append(outcome)
            tracker.record(outcome)

    started = time.time()
    try:
        if progress is not None:
            progress.start()
        workers = min(options.concurrency, len(specs)) or 1
        await asyncio.gather(*(worker() for _ in range(workers)))
    finally:
        if progress is not None:
            progress.stop()
        await client.close()
    outcomes.sort(key=lambda outcome: outcome.index)
    return LoadResult(outcomes, started, time.time(), options.concurrency)
