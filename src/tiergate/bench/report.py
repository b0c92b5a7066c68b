"""The brief's cheat sheet, computed from the ledger: latency, errors, speed, cost.

:func:`build_report` is pure (records and a catalog in, a :class:`Report` out); the
renderers turn it into a rich table, JSON, CSV or a PNG plot. Definitions, chosen
so the figures answer "what did callers get":

- **share**: the group's requests over all requests in the report;
  ``output_share`` the same over output tokens.
- **p50/p95/p99 latency**: numpy's linear-interpolation percentiles of
  ``latency_ms`` over the group's *successful* requests (status < 400), measured at
  the gateway from request received to last byte. Failed requests are counted in
  the error rate instead: their latency is mostly how fast the gateway gave up.
- **error rate**: requests with status >= 500, 408 or 429 (the provider or the
  gateway failed) over all requests. Other 4xx are the caller's mistakes and count
  as neither success nor error.
- **output tok/s**: output tokens over generation time, summed over successful
  requests with output. Generation time is latency minus time to first token for
  streams (the decode rate) and the whole latency otherwise, where a first byte
  means the whole answer.
- **cost**: the ledger's ``cost_usd`` summed over priced rows; ``None`` when no row
  of the group is priced. **blended $/M out** is that sum over the output tokens of
  the same priced rows, times a million; the output tokens of unpriced rows are
  reported beside it (``unpriced_output_tokens``) instead of being priced at 0.
"""

from __future__ import annotations

import csv
import io
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tiergate.ledger.record import RequestRecord

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from tiergate.catalog import Catalog

UNKNOWN = "unknown"
_NONE = "-"
_PER_MILLION = 1_000_000.0


@dataclass(frozen=True, slots=True)
class GroupStats:
    """The figures of one group of requests (a family, model, model+region, tier).

    Percentiles and rates are ``None`` when the group has no request they apply to;
    ``cost_usd`` and ``blended_usd_per_m_out`` are ``None`` when nothing in the
    group could be priced.
    """

    family: str | None
    model: str | None
    region: str | None
    tier: str | None
    requests: int
    share: float
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    ttft_p50_ms: float | None
    output_tok_s: float | None
    input_tokens: int
    output_tokens: int
    output_share: float
    estimated_requests: int
    cost_usd: float | None
    priced_output_tokens: int
    unpriced_output_tokens: int
    unpriced_requests: int
    blended_usd_per_m_out: float | None


@dataclass(frozen=True, slots=True)
class Report:
    """Every group's figures. ``simulated_requests`` says how many rows came from
    the simulated fleet; renderers label the report accordingly."""

    requests: int
    simulated_requests: int
    first_received_at: float | None
    last_received_at: float | None
    total: GroupStats
    by_family: list[GroupStats] = field(default_factory=list)
    by_model: list[GroupStats] = field(default_factory=list)
    by_model_region: list[GroupStats] = field(default_factory=list)
    by_tier: list[GroupStats] = field(default_factory=list)
    unpriced_models: list[str] = field(default_factory=list)

    @property
    def provenance(self) -> str:
        """``simulated``, ``real`` or ``mixed (N of M simulated)``."""
        if self.simulated_requests == 0:
            return "real"
        if self.simulated_requests == self.requests:
            return "simulated"
        return f"mixed ({self.simulated_requests:,} of {self.requests:,} simulated)"


def is_error(status: int) -> bool:
    """True for a status that means the provider or the gateway failed."""
    return status >= 500 or status in (408, 429)


def build_report(records: Iterable[RequestRecord], catalog: Catalog) -> Report:
    """The figures of ``records``, grouped by family, model, model+region and tier.

    A model the catalog does not know is grouped under family ``unknown``.
    """
    rows = list(records)
    totals = _Totals(len(rows), sum(r.output_tokens or 0 for r in rows))

    def family(rec: RequestRecord) -> str:
        model = catalog.get(rec.model) if rec.model else None
        return model.family if model is not None else UNKNOWN

    def grouped(
        key: Callable[[RequestRecord], tuple[str | None, ...]],
        names: Sequence[str],
    ) -> list[GroupStats]:
        groups: dict[tuple[str | None, ...], list[RequestRecord]] = defaultdict(list)
        for rec in rows:
            groups[key(rec)].append(rec)
        ordered = sorted(groups.items(), key=lambda item: [k or "" for k in item[0]])
        return [_stats(g, totals, dict(zip(names, k, strict=True))) for k, g in ordered]

    received = [r.received_at for r in rows]
    unpriced = {r.model for r in rows if r.cost_usd is None and r.output_tokens}
    return Report(
        requests=len(rows),
        simulated_requests=sum(1 for r in rows if r.simulated),
        first_received_at=min(received) if received else None,
        last_received_at=max(received) if received else None,
        total=_stats(rows, totals, {}),
        by_family=grouped(lambda r: (family(r),), ("family",)),
        by_model=grouped(lambda r: (family(r), r.model), ("family", "model")),
        by_model_region=grouped(
            lambda r: (family(r), r.model, r.region), ("family", "model", "region")
        ),
        by_tier=grouped(lambda r: (r.tier,), ("tier",)),
        unpriced_models=sorted(m or _NONE for m in unpriced),
    )


@dataclass(frozen=True, slots=True)
class _Totals:
    requests: int
    output_tokens: int


def _stats(
    rows: Sequence[RequestRecord], totals: _Totals, keys: dict[str, str | None]
) -> GroupStats:
    import numpy as np

    ok = [r for r in rows if r.status < 400]
    latencies = np.array([r.latency_ms for r in ok], dtype=float)
    ttfts = np.array([r.ttft_ms for r in ok if r.ttft_ms is not None], dtype=float)
    p50, p95, p99 = _percentiles(latencies, (50, 95, 99))
    (ttft_p50,) = _percentiles(ttfts, (50,))

    priced = [r for r in rows if r.cost_usd is not None]
    priced_out = sum(r.output_tokens or 0 for r in priced)
    cost = math.fsum(r.cost_usd or 0.0 for r in priced) if priced else None
    unpriced = [r for r in rows if r.cost_usd is None and r.output_tokens]
    output_tokens = sum(r.output_tokens or 0 for r in rows)
    errors = sum(1 for r in rows if is_error(r.status))

    return GroupStats(
        family=keys.get("family"),
        model=keys.get("model"),
        region=keys.get("region"),
        tier=keys.get("tier"),
        requests=len(rows),
        share=_ratio(len(rows), totals.requests) or 0.0,
        errors=errors,
        error_rate=_ratio(errors, len(rows)) or 0.0,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        ttft_p50_ms=ttft_p50,
        output_tok_s=_output_rate(ok),
        input_tokens=sum(r.input_tokens or 0 for r in rows),
        output_tokens=output_tokens,
        output_share=_ratio(output_tokens, totals.output_tokens) or 0.0,
        estimated_requests=sum(1 for r in rows if r.tokens_estimated),
        cost_usd=cost,
        priced_output_tokens=priced_out,
        unpriced_output_tokens=sum(r.output_tokens or 0 for r in unpriced),
        unpriced_requests=len(unpriced),
        blended_usd_per_m_out=_blend(cost, priced_out),
    )


def _percentiles(values: Any, qs: Sequence[float]) -> list[float | None]:
    import numpy as np

    if len(values) == 0:
        return [None for _ in qs]
    return [float(v) for v in np.percentile(values, qs)]


def _output_rate(ok: Sequence[RequestRecord]) -> float | None:
    tokens, seconds = 0, 0.0
    for rec in ok:
        if not rec.output_tokens:
            continue
        generating = rec.latency_ms
        if rec.stream and rec.ttft_ms is not None and rec.latency_ms > rec.ttft_ms:
            generating = rec.latency_ms - rec.ttft_ms
        tokens += rec.output_tokens
        seconds += generating / 1000.0
    return tokens / seconds if seconds > 0 else None


def _blend(cost: float | None, priced_tokens: int) -> float | None:
    if cost is None or priced_tokens == 0:
        return None
    return cost / priced_tokens * _PER_MILLION


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


# ---- renderers -------------------------------------------------------------------


def to_json(report: Report) -> str:
    """The report as JSON: unknown figures are ``null``, never 0."""
    import orjson

    body = asdict(report)
    body["provenance"] = report.provenance
    return orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()


def to_csv(report: Report) -> str:
    """One CSV row per group, ``level`` naming the grouping; unknown cells empty."""
    out = io.StringIO()
    names = [f.name for f in fields(GroupStats)]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["level", "provenance", *names])
    levels = (
        ("total", [report.total]),
        ("family", report.by_family),
        ("model", report.by_model),
        ("model_region", report.by_model_region),
        ("tier", report.by_tier),
    )
    for level, groups in levels:
        for group in groups:
            values = [
                "" if v is None else v for v in (getattr(group, n) for n in names)
            ]
            writer.writerow([level, report.provenance, *values])
    return out.getvalue()


def render_table(report: Report, console: Console) -> None:
    """Print the cheat sheet: families, models, models by region, tiers, blend."""
    from rich.table import Table

    if report.requests == 0:
        console.print("no requests in the ledger for this period")
        return

    console.print(_title(report), style="bold")
    for title, groups, keys in (
        ("by family", report.by_family, ("family",)),
        ("by model", report.by_model, ("family", "model")),
        ("by model and region", report.by_model_region, ("model", "region")),
    ):
        table = Table(title=f"{title} ({report.provenance})", title_justify="left")
        for key in keys:
            table.add_column(key)
        for column in _LATENCY_COLUMNS:
            table.add_column(column, justify="right")
        for group in groups:
            table.add_row(
                *(_cell(getattr(group, k)) for k in keys), *_latency_row(group)
            )
        console.print(table)

    console.print(_tier_table(report))
    console.print(_blend_line(report.total, report.unpriced_models))


_LATENCY_COLUMNS = (
    "requests",
    "share",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "errors",
    "out tok/s",
    "out tokens",
    "cost $",
    "$/M out",
)


def _latency_row(g: GroupStats) -> list[str]:
    return [
        f"{g.requests:,}",
        f"{g.share:.1%}",
        _num(g.p50_ms, ".0f"),
        _num(g.p95_ms, ".0f"),
        _num(g.p99_ms, ".0f"),
        f"{g.error_rate:.2%}",
        _num(g.output_tok_s, ".1f"),
        f"{g.output_tokens:,}",
        _cost(g),
        _num(g.blended_usd_per_m_out, ".4f"),
    ]


def _tier_table(report: Report) -> Any:
    from rich.table import Table

    table = Table(title=f"by tier ({report.provenance})", title_justify="left")
    for column in ("tier", "requests", "share", "out share", "cost $", "$/M out"):
        table.add_column(column, justify="left" if column == "tier" else "right")
    for g in report.by_tier:
        table.add_row(
            _cell(g.tier),
            f"{g.requests:,}",
            f"{g.share:.1%}",
            f"{g.output_share:.1%}",
            _cost(g),
            _num(g.blended_usd_per_m_out, ".4f"),
        )
    return table


def _title(report: Report) -> str:
    span = ""
    if report.first_received_at is not None and report.last_received_at is not None:
        first = datetime.fromtimestamp(report.first_received_at).isoformat(
            " ", "seconds"
        )
        last = datetime.fromtimestamp(report.last_received_at).isoformat(" ", "seconds")
        span = f", {first} .. {last}"
    return f"tiergate report: {report.requests:,} requests, {report.provenance}{span}"


def _blend_line(total: GroupStats, unpriced_models: Sequence[str]) -> str:
    blend = _num(total.blended_usd_per_m_out, ".4f")
    line = (
        f"blended ${blend} per million output tokens over "
        f"{total.priced_output_tokens:,} priced output tokens"
    )
    if total.unpriced_output_tokens:
        line += (
            f"; {total.unpriced_output_tokens:,} output tokens unpriced "
            f"(price unknown: {', '.join(unpriced_models)}), not counted as free"
        )
    return line


def _cost(g: GroupStats) -> str:
    if g.cost_usd is None:
        return UNKNOWN if g.unpriced_output_tokens else _NONE
    text = f"{g.cost_usd:.4f}"
    return text + " +unknown" if g.unpriced_output_tokens else text


def _num(value: float | None, spec: str) -> str:
    return UNKNOWN if value is None else format(value, spec)


def _cell(value: str | None) -> str:
    return value if value is not None else _NONE


def plot(report: Report, path: str | Path) -> None:
    """Write a PNG of p50/p95/p99 latency per model and region (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = [g for g in report.by_model_region if g.p50_ms is not None]
    labels = [f"{g.model or _NONE}\n{g.region or _NONE}" for g in groups]
    x = np.arange(len(groups))
    width = 0.27
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(groups) + 2), 5))
    for offset, name in ((-width, "p50_ms"), (0.0, "p95_ms"), (width, "p99_ms")):
        values = [getattr(g, name) or 0.0 for g in groups]
        ax.bar(x + offset, values, width, label=name.removesuffix("_ms"))

    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("latency at the gateway (ms)")
    ax.set_title(f"tiergate latency per model and region ({report.provenance})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---- time windows ----------------------------------------------------------------

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float | None = None) -> float:
    """Epoch seconds for ``--since``: a duration back from now (``30m``, ``1h``,
    ``2d``, ``1w``), an ISO 8601 time (naive times are local), or epoch seconds.

    Raises ValueError quoting the accepted forms.
    """
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        return (time.time() if now is None else now) - amount * _UNIT_SECONDS[unit]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValueError(
            f"--since {text!r}: use a duration such as 30m, 1h, 2d, an ISO time such "
            "as 2026-05-01T12:00 or epoch seconds"
        ) from None
