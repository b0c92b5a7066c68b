"""Chaos drills: load through a live gateway while the simulated fleet breaks.

Each drill starts a simulated fleet and a gateway on loopback in this process, sends
open-loop load (a fixed arrival rate, at most ``concurrency`` requests in flight)
through the gateway with the official ``openai`` client, switches a fault on
mid-run through the fleet's fault API, and judges what the callers saw against the
criterion of issue 4:

============  ==========================================================================
region-down   a whole region goes down: no failed non-streaming request while another
              region serves the model; p99 after the detection window <= 2x baseline
rate-limit    one provider answers 429 with Retry-After: 2: none of its deployments is
              called again before 2 s pass; traffic moves elsewhere
hang          a deployment hangs: every request still ends within its total deadline
              (+10%)
flap          a deployment flaps: the breaker opens, probes and closes again (and
              traffic ramps back rather than returning at full rate)
stream-cut    streams cut mid-way: the caller sees an error, never a truncated success
all-down      everything down: 503s with p99 < 50 ms, no pile-up of waiting requests,
              recovery as soon as the fleet returns
============  ==========================================================================

Latencies are the simulated fleet's real figures (``time_scale`` 1.0) unless the
options say otherwise; the result says which. Everything here runs against the
simulated fleet and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

PROMPT = [{"role": "user", "content": "Write two sentences about the weather today."}]
# Arrivals at a rate-limited provider this close after the first 429 of a burst were
# already on their way when the gateway learned of the limit.
RACE_MARGIN_S = 0.1
MAX_TOKENS = 8


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    """How hard and how long each drill runs."""

    duration_s: float = 20.0
    rate: float = 40.0
    concurrency: int = 64
    seed: int = 0
    time_scale: float = 1.0
    # Multiplies the timing bounds (503 p99, p99 ratio, deadline margin). The drills
    # keep 1.0, the figures; the test suite, sharing two cores with
    # everything else, checks the same behaviour with generous bounds.
    timing_slack: float = 1.0


@dataclass(slots=True)
class DrillResult:
    """A drill's verdict and the figures it was judged on."""

    name: str
    passed: bool
    criterion: str
    figures: dict[str, Any]
    simulated: str = ""

    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.figures.items())


@dataclass(slots=True)
class Sample:
    """What one caller saw. Times are seconds since the drill's load started."""

    start: float
    end: float
    stream: bool
    deadline_s: float
    status: int = 200
    error: str | None = None
    deployment: str | None = None
    attempts: int = 0
    truncated: bool = False
    in_flight: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and not self.truncated

    @property
    def latency(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Spec:
    """One request to send: streaming or not, and its extra headers."""

    stream: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    deadline_s: float = 60.0
    model: str = "tier:default"
    max_tokens: int = MAX_TOKENS


class BreakerLog(logging.Handler):
    """Collects the gateway's breaker state changes (its warning logs)."""

    _OPEN_FOR = re.compile(r" for ([0-9.]+)s")

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(logging.WARNING)
        self._clock = clock
        self.changes: list[tuple[float, str, str, float | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        state = getattr(record, "breaker", None)
        dep = getattr(record, "deployment", None)
        if state is None or dep is None:
            return
        match = self._OPEN_FOR.search(record.getMessage())
        open_for = float(match.group(1)) if match else None
        self.changes.append((self._clock(), dep, state, open_for))

    def of(self, dep: str) -> list[tuple[float, str, float | None]]:
        return [(t, s, o) for t, d, s, o in self.changes if d == dep]


class Harness:
    """A simulated fleet and a gateway over it, both on loopback in this loop."""

    def __init__(self, options: ChaosOptions, **config: Any) -> None:
        self.options = options
        self._config = config
        self.t0 = time.monotonic()
        self.epoch0 = time.time()
        self.breakers = BreakerLog(self.now)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def epoch(self, t: float) -> float:
        """The wall-clock time of drill time ``t`` (fleet stats use wall time)."""
        return self.epoch0 + t

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Harness]:
        import uvicorn
        from openai import AsyncOpenAI

        from tiergate.config import parse_config, simulated_providers
        from tiergate.gateway.app import build_app
        from tiergate.gateway.runtime import Runtime
        from tiergate.sim import Fleet

        health_logger = logging.getLogger("tiergate.health")
        health_logger.addHandler(self.breakers)
        async with Fleet(
            base_port=0,
            seed=self.options.seed,
            time_scale=self.options.time_scale,
            recent_limit=50_000,
        ) as fleet:
            self.fleet = fleet
            data = {
                "providers": simulated_providers(endpoints=fleet.endpoints),
                "ledger": {"enabled": False},
                **self._config,
            }
            self.runtime = Runtime(parse_config(data, "(chaos drill)"))
            server = uvicorn.Server(
                uvicorn.Config(
                    build_app(self.runtime),
                    host="127.0.0.1",
                    port=0,
                    lifespan="on",
                    log_level="error",
                    access_log=False,
                    backlog=4096,
                )
            )
            serving = asyncio.get_running_loop().create_task(server.serve())
            try:
                while not server.started:
                    if serving.done():
                        serving.result()
                    await asyncio.sleep(0.01)
                port = server.servers[0].sockets[0].getsockname()[1]
                self.url = f"http://127.0.0.1:{port}"
                async with AsyncOpenAI(
                    base_url=f"{self.url}/v1",
                    api_key="chaos-drill",
                    max_retries=0,
                    timeout=30.0,
                ) as client:
                    self.client = client
                    yield self
            finally:
                server.should_exit = True
                await serving
                health_logger.removeHandler(self.breakers)

    async def load(
        self,
        duration_s: float,
        spec_for: Callable[[int], Spec],
        events: list[tuple[float, Callable[[], Awaitable[Any]]]],
    ) -> list[Sample]:
        """Open-loop load for ``duration_s``; ``events`` run at their drill times.
        Returns every request's sample once all have finished."""
        import random

        rng = random.Random(self.options.seed)
        slots = asyncio.Semaphore(self.options.concurrency)
        samples: list[Sample] = []
        tasks: list[asyncio.Task[None]] = []
        in_flight = [0]
        self.t0 = time.monotonic()
        self.epoch0 = time.time()
        loop = asyncio.get_running_loop()
        timers = [loop.create_task(self._at(at, action)) for at, action in events]

        async def one(spec: Spec) -> None:
            async with slots:
                in_flight[0] += 1
                sample = Sample(
                    self.now(),
                    0.0,
                    spec.stream,
                    spec.deadline_s,
                    in_flight=in_flight[0],
                )
                try:
                    await self._send(spec, sample)
                finally:
                    in_flight[0] -= 1
                    sample.end = self.now()
                    samples.append(sample)

        index = 0
        next_at = 0.0
        while next_at < duration_s:
            await asyncio.sleep(max(0.0, next_at - self.now()))
            tasks.append(loop.create_task(one(spec_for(index))))
            index += 1
            next_at += rng.expovariate(self.options.rate)
        await asyncio.gather(*tasks)
        for timer in timers:
            await timer
        samples.sort(key=lambda s: s.start)
        return samples

    async def _at(self, at: float, action: Callable[[], Awaitable[Any]]) -> None:
        await asyncio.sleep(max(0.0, at - self.now()))
        await action()

    async def _send(self, spec: Spec, sample: Sample) -> None:
        import openai

        create = self.client.chat.completions.with_raw_response.create
        try:
            raw = await create(
                model=spec.model,
                messages=PROMPT,  # type: ignore[arg-type]
                max_tokens=spec.max_tokens,
                stream=spec.stream,
                extra_headers=spec.headers or None,
            )
            sample.deployment = raw.headers.get("x-tiergate-deployment")
            sample.attempts = int(raw.headers.get("x-tiergate-attempts", "0"))
            parsed = raw.parse()
            if spec.stream:
                finish = None
                async for chunk in parsed:  # type: ignore[union-attr]
                    if chunk.choices and chunk.choices[0].finish_reason:
                        finish = chunk.choices[0].finish_reason
                sample.truncated = finish is None
        except openai.APIStatusError as error:
            sample.status = error.status_code
            sample.error = f"http_{error.status_code}"
        except openai.APITimeoutError:
            sample.status = 0
            sample.error = "client_timeout"
        except openai.APIConnectionError:
            sample.status = 0
            sample.error = "connection"
        except openai.APIError as error:
            # An error event inside a stream: surfaced to the caller, as it must be.
            sample.error = "stream_error"
            body = error.body if isinstance(error.body, dict) else {}
            sample.status = 200 if body else 0


def _p(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _ms(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1000:.0f} ms"


def _scale_note(options: ChaosOptions) -> str:
    if options.time_scale == 1.0:
        return "SIMULATED fleet, real (unscaled) latencies"
    return f"SIMULATED fleet, latencies x{options.time_scale:g} (time_scale)"


def _mixed(stream_share: float, **spec: Any) -> Callable[[int], Spec]:
    """Specs where every ``1/stream_share``-th request streams."""
    every = max(1, round(1 / stream_share)) if stream_share > 0 else 0

    def spec_for(index: int) -> Spec:
        return Spec(stream=bool(every) and index % every == every - 1, **spec)

    return spec_for


# -- the drills -----------------------------------------------------------------------


async def drill_region_down(options: ChaosOptions) -> DrillResult:
    """us-east (every provider) goes down at 35% of the run and stays down."""
    duration = options.duration_s
    down_at = duration * 0.35
    harness = Harness(options)
    async with harness.running() as h:
        serving = [
            u.id
            for u in h.runtime.balancer.deployments_for("deepseek-v4-flash")
            if u.region == "us-east"
        ]

        async def down() -> None:
            await h.fleet.set_faults([{"kind": "region_down", "region": "us-east"}])

        samples = await h.load(duration, _mixed(0.2), [(down_at, down)])

    opened = {
        dep: next((t for t, s, _ in h.breakers.of(dep) if s == "open"), None)
        for dep in serving
    }
    times = [t for t in opened.values() if t is not None]
    detected = max(times) if len(times) == len(serving) else down_at + 2.0
    baseline = [s.latency for s in samples if 1.0 <= s.start < down_at and not s.stream]
    after = [
        s.latency
        for s in samples
        if s.start >= detected and not s.stream and s.end <= duration + 5
    ]
    failed_plain = [s for s in samples if not s.stream and not s.ok]
    failed_stream = [s for s in samples if s.stream and not s.ok]
    late = [s for s in samples if s.start >= detected]
    moved = [s for s in late if s.deployment and not s.deployment.endswith("us-east")]
    p99_base, p99_after = _p(baseline, 99), _p(after, 99)
    ratio = p99_after / p99_base if baseline and after else float("inf")
    passed = not failed_plain and ratio <= 2.0 * options.timing_slack and bool(after)
    return DrillResult(
        "region-down",
        passed,
        "no failed non-streaming request; p99 after detection <= 2x baseline",
        {
            "requests": len(samples),
            "failed non-streaming": len(failed_plain),
            "failed streams": len(failed_stream),
            "detection": _ms(detected - down_at),
            "p99 baseline": _ms(p99_base),
            "p99 after": _ms(p99_after),
            "ratio": f"{ratio:.2f}x",
            "served outside us-east after": f"{len(moved)}/{len(late)}",
        },
        _scale_note(options),
    )


def _cooldown_violations(
    arrival_times: list[float], cooldown_s: float
) -> tuple[int, int, float]:
    """Arrivals inside a cooldown: each 429 burst starts a ``cooldown_s`` window in
    which only arrivals within ``RACE_MARGIN_S`` of the burst's first are allowed.
    Returns (violations, bursts, smallest gap between bursts)."""
    violations, bursts, gaps = 0, 0, []
    burst_start: float | None = None
    for at in sorted(arrival_times):
        if burst_start is None or at >= burst_start + cooldown_s:
            if burst_start is not None:
                gaps.append(at - burst_start)
            burst_start = at
            bursts += 1
        elif at > burst_start + RACE_MARGIN_S:
            violations += 1
    return violations, bursts, min(gaps) if gaps else float("nan")


async def drill_rate_limit(options: ChaosOptions) -> DrillResult:
    """Provider deepseek answers every request with 429, Retry-After: 2, from 35%."""
    duration = options.duration_s
    limit_at = duration * 0.35
    retry_after = 2
    harness = Harness(options)
    async with harness.running() as h:

        async def limit() -> None:
            await h.fleet.set_faults(
                [
                    {
                        "kind": "rate_limit",
                        "provider": "deepseek",
                        "retry_after": retry_after,
                    }
                ]
            )

        samples = await h.load(duration, _mixed(0.2), [(limit_at, limit)])
        stats = h.fleet.stats()["endpoints"]
        since = h.epoch(limit_at)

    deepseek = [n for n, e in stats.items() if e["provider"] == "deepseek"]
    arrivals = [at for n in deepseek for at in stats[n]["recent"] if at >= since]
    limited = sum(int(stats[n]["by_status"].get("429", 0)) for n in deepseek)
    violations, bursts, gap = _cooldown_violations(arrivals, retry_after)
    after = [s for s in samples if s.start >= limit_at + RACE_MARGIN_S]
    elsewhere = [
        s for s in after if s.deployment and not s.deployment.startswith("deepseek-")
    ]
    failed = [s for s in samples if not s.ok]
    passed = (
        violations == 0 and not failed and len(elsewhere) == len(after) and bursts >= 1
    )
    return DrillResult(
        "rate-limit",
        passed,
        f"no call to the provider within {retry_after} s of its 429; traffic elsewhere",
        {
            "requests": len(samples),
            "429s sent": limited,
            "429 bursts": bursts,
            "min gap between bursts": "n/a" if gap != gap else f"{gap:.2f} s",
            "calls inside cooldown": violations,
            "served elsewhere after": f"{len(elsewhere)}/{len(after)}",
            "failed": len(failed),
        },
        _scale_note(options),
    )


async def drill_hang(options: ChaosOptions) -> DrillResult:
    """deepseek us-east accepts requests and never answers, from 35% on; half the
    requests carry their own deadline (x-tiergate-timeout-ms)."""
    duration = options.duration_s
    hang_at = duration * 0.35
    total_s, header_s = 2.5, 1.8
    harness = Harness(
        options,
        timeouts={
            "connect_s": 1.0,
            "first_byte_s": 1.0,
            "idle_s": 1.0,
            "total_s": total_s,
        },
    )

    def spec_for(index: int) -> Spec:
        stream = index % 4 == 3
        if index % 2:
            return Spec(stream=stream, deadline_s=total_s)
        headers = {"x-tiergate-timeout-ms": str(int(header_s * 1000))}
        return Spec(stream=stream, headers=headers, deadline_s=header_s)

    async with harness.running() as h:

        async def hang() -> None:
            await h.fleet.set_faults(
                [{"kind": "hang", "provider": "deepseek", "region": "us-east"}]
            )

        samples = await h.load(duration, spec_for, [(hang_at, hang)])
        hung = [
            at
            for at in h.fleet.stats()["endpoints"]["deepseek-us-east"]["recent"]
            if at >= h.epoch(hang_at)
        ]

    margin = 1 + 0.1 * options.timing_slack
    over = [s for s in samples if s.latency > s.deadline_s * margin]
    worst = max((s.latency / s.deadline_s for s in samples), default=0.0)
    failed = [s for s in samples if not s.ok]
    return DrillResult(
        "hang",
        not over,
        "every request ends within its total deadline +10%",
        {
            "requests": len(samples),
            "sent into the hang": len(hung),
            "over deadline +10%": len(over),
            "worst latency/deadline": f"{worst:.2f}",
            "max latency": _ms(max((s.latency for s in samples), default=0.0)),
            "failed": len(failed),
        },
        _scale_note(options),
    )


async def drill_flap(options: ChaosOptions) -> DrillResult:
    """deepseek us-east alternates between failing (500) and healthy."""
    duration = options.duration_s
    f = duration / 20.0
    bad_s, good_s = 1.5 * f, 2.5 * f
    start, stop = 0.2 * duration, 0.75 * duration
    harness = Harness(
        options,
        breaker={"open_s": 1.0 * f, "ramp_s": 3.0 * f, "max_open_s": 8.0 * f},
    )
    dep = "deepseek-us-east"
    async with harness.running() as h:
        fault = [
            {
                "kind": "error",
                "status": 500,
                "provider": "deepseek",
                "region": "us-east",
            }
        ]
        events: list[tuple[float, Callable[[], Awaitable[Any]]]] = []
        at = start
        while at < stop:
            events.append((at, lambda: h.fleet.set_faults(fault)))
            events.append((at + bad_s, h.fleet.clear_faults))
            at += bad_s + good_s
        samples = await h.load(duration, _mixed(0.2), events)
        final = h.runtime.health.get(dep).state.name.lower()

    changes = h.breakers.of(dep)
    opens = [o for _, s, o in changes if s == "open" and o is not None]
    probes = sum(1 for _, s, _ in changes if s == "half_open")
    closes = [t for t, s, _ in changes if s == "closed"]
    steady = [s for s in samples if 1.0 <= s.start < start]
    steady_share = sum(s.deployment == dep for s in steady) / max(1, len(steady))
    window = 0.25 * 3.0 * f
    ramp = [s for s in samples for c in closes if c <= s.start < c + window]
    ramp_share = sum(s.deployment == dep for s in ramp) / max(1, len(ramp))
    failed_plain = [s for s in samples if not s.stream and not s.ok]
    grew = all(b >= a for a, b in itertools.pairwise(opens)) and (
        len(opens) < 2 or opens[-1] > opens[0]
    )
    passed = (
        len(opens) >= 2
        and probes >= 2
        and len(closes) >= 2
        and final == "closed"
        and ramp_share < steady_share
        and not failed_plain
    )
    return DrillResult(
        "flap",
        passed,
        "breaker opens, probes, closes again; traffic ramps back; no failed request",
        {
            "requests": len(samples),
            "opens": len(opens),
            "probes": probes,
            "closes": len(closes),
            "open periods": "/".join(f"{o:g}" for o in opens) + " s",
            "periods grew": "yes" if grew else "no",
            "share steady": f"{steady_share:.0%}",
            "share just after close": f"{ramp_share:.0%}",
            "final": final,
            "failed non-streaming": len(failed_plain),
        },
        _scale_note(options),
    )


async def drill_stream_cut(options: ChaosOptions) -> DrillResult:
    """From 35% on, half of deepseek's streams are cut before their first byte and
    half of the rest after three events."""
    duration = options.duration_s
    cut_at = duration * 0.35
    harness = Harness(options)
    async with harness.running() as h:

        async def cut() -> None:
            await h.fleet.set_faults(
                [
                    {
                        "kind": "cut_stream",
                        "provider": "deepseek",
                        "after_chunks": 0,
                        "rate": 0.5,
                    },
                    {
                        "kind": "cut_stream",
                        "provider": "deepseek",
                        "after_chunks": 3,
                        "rate": 0.5,
                    },
                ]
            )

        spec = Spec(stream=True, max_tokens=24)
        samples = await h.load(duration, lambda _: spec, [(cut_at, cut)])

    truncated = [s for s in samples if s.truncated and s.error is None]
    surfaced = [s for s in samples if s.error == "stream_error"]
    invisible = [s for s in samples if s.ok and s.attempts >= 2]
    other = [s for s in samples if s.error not in (None, "stream_error")]
    passed = not truncated and bool(surfaced) and not other
    return DrillResult(
        "stream-cut",
        passed,
        "a cut stream ends with an error the client raises, never a truncated success",
        {
            "streams": len(samples),
            "complete": sum(1 for s in samples if s.ok),
            "failed over before first byte": len(invisible),
            "cut mid-way, error raised": len(surfaced),
            "truncated successes": len(truncated),
            "other errors": len(other),
        },
        _scale_note(options),
    )


async def drill_all_down(options: ChaosOptions) -> DrillResult:
    """Every endpoint of every region goes down at 30% and comes back at 65%; the
    gateway runs the active probe (breaker.probe_interval_s 0.5)."""
    duration = options.duration_s
    down_at, up_at = duration * 0.30, duration * 0.65
    probe_s = 0.5
    harness = Harness(options, breaker={"probe_interval_s": probe_s})
    async with harness.running() as h:

        async def down() -> None:
            await h.fleet.set_faults(
                [{"kind": "region_down", "region": r} for r in h.runtime.config.regions]
            )

        samples = await h.load(
            duration, _mixed(0.2), [(down_at, down), (up_at, h.fleet.clear_faults)]
        )

    baseline = [s for s in samples if 1.0 <= s.start < down_at]
    outage = [s for s in samples if down_at <= s.start < up_at and s.start > 0]
    fresh = [s for s in outage if s.start >= down_at + 0.05]
    p99 = _p([s.latency for s in fresh], 99)
    unavailable = [s for s in fresh if s.status == 503]
    piled = max((s.in_flight for s in outage), default=0)
    base_flight = max((s.in_flight for s in baseline), default=0)
    after = [s for s in samples if s.start >= up_at]
    failing_after = [s.start for s in after if not s.ok]
    recovered = (max(failing_after) if failing_after else up_at) - up_at
    first_ok = next((s.end - up_at for s in after if s.ok), float("nan"))
    passed = (
        p99 < 0.050 * options.timing_slack
        and len(unavailable) == len(fresh) > 0
        and piled <= max(3, base_flight)
        and recovered <= probe_s + 1.0
        and bool(after)
        and after[-1].ok
    )
    return DrillResult(
        "all-down",
        passed,
        "503 p99 < 50 ms, no pile-up, recovery within the probe interval (+1 s)",
        {
            "requests": len(samples),
            "503s in outage": f"{len(unavailable)}/{len(fresh)}",
            "503 p99": _ms(p99),
            "in flight max outage/baseline": f"{piled}/{base_flight}",
            "first success after return": _ms(first_ok),
            "recovered after": _ms(recovered),
        },
        _scale_note(options),
    )


DRILLS: dict[str, Callable[[ChaosOptions], Awaitable[DrillResult]]] = {
    "region-down": drill_region_down,
    "rate-limit": drill_rate_limit,
    "hang": drill_hang,
    "flap": drill_flap,
    "stream-cut": drill_stream_cut,
    "all-down": drill_all_down,
}


async def run_drills(
    names: list[str],
    options: ChaosOptions,
    on_result: Callable[[DrillResult], None] | None = None,
) -> list[DrillResult]:
    """Run the named drills one after another. Raises ``KeyError`` for an unknown
    name before anything runs."""
    drills = [DRILLS[name] for name in names]
    results = []
    for drill in drills:
        result = await drill(options)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
