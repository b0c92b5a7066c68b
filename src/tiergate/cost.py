"""What one request cost, in USD, from the catalog's prices.

Rules, in the order they apply:

- No model, or a model whose **output** price is unknown: the cost is unknown
  (``None``), never 0. Reports keep it unknown and say how many tokens it covers.
- Output tokens are billed at the output price. ``output_tokens`` follows the
  OpenAI/DeepSeek ``usage`` convention in which ``completion_tokens`` already
  includes the reasoning tokens, so reasoning is not added again. A provider that
  reports reasoning separately from the answer is priced with
  ``reasoning_included=False``, which adds them as output.
- Input tokens are billed at the input price where the catalog has one. The default
  catalog has no input prices at all (the brief gives none), so by default the
  figure covers output only; :func:`covers_input` tells a report whether a model's
  figure includes input. Cached input tokens are billed at the normal input price:
  the catalog carries no cache discount, so the figure errs high, not low.
- A token count of ``None`` means none were reported (a failed attempt); it bills
  nothing. The gateway estimates counts when a successful upstream reports none.
"""

from __future__ import annotations

from tiergate.catalog import Model

_PER_MILLION = 1_000_000.0


def request_cost(
    model: Model | None,
    input_tokens: int | None,
    output_tokens: int | None,
    reasoning_tokens: int | None = None,
    *,
    reasoning_included: bool = True,
) -> float | None:
    """The USD cost of one request, or ``None`` when the output price is unknown."""
    if model is None or model.price_out_per_m is None:
        return None

    billed_out = output_tokens or 0
    if not reasoning_included:
        billed_out += reasoning_tokens or 0
    cost = billed_out * model.price_out_per_m

    if model.price_in_per_m is not None:
        cost += (input_tokens or 0) * model.price_in_per_m
    return cost / _PER_MILLION


def covers_input(model: Model | None) -> bool:
    """True when :func:`request_cost` for ``model`` includes its input tokens."""
    return model is not None and model.price_in_per_m is not None
