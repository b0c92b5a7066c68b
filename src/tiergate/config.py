"""The gateway's YAML configuration: pydantic models, loading, and readable errors.

Every section has a default, and with no file at all the defaults describe the
simulated fleet on loopback (``tiergate sim``'s ports), so ``tiergate serve`` works
out of the box. A wrong file fails at start with the dotted field path and what is
wrong, never later on a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tiergate.catalog import Catalog, load_default_catalog
from tiergate.classify.settings import ClassifierSettings
from tiergate.errors import ConfigError
from tiergate.sim import layout

DEFAULT_REGIONS: tuple[str, ...] = ("us-east", "eu-west", "apac")
TIER_NAMES: tuple[str, ...] = ("default", "classify", "reasoning", "vision", "heavy")

# Static proximity used until the gateway has observed latencies of its own.
DEFAULT_NEAREST: dict[str, list[str]] = {
    "us-east": ["eu-west", "apac"],
    "eu-west": ["us-east", "apac"],
    "apac": ["us-east", "eu-west"],
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timeouts(_Frozen):
    """Deadlines for one upstream call, in seconds. ``total_s`` bounds the whole
    request including retries; the caller may lower it per request."""

    connect_s: float = Field(default=2.0, gt=0)
    first_byte_s: float = Field(default=20.0, gt=0)
    idle_s: float = Field(default=20.0, gt=0)
    total_s: float = Field(default=60.0, gt=0)


class Deployment(_Frozen):
    """One endpoint of a provider in one region, serving some catalog models."""

    id: str = ""
    base_url: str
    region: str
    # catalog model id -> the provider's own name for it
    models: dict[str, str]
    weight: float = Field(default=1.0, gt=0)
    api_key_env: str | None = None
    timeouts: Timeouts | None = None
    max_connections: int = Field(default=256, gt=0)


class Provider(_Frozen):
    """A company selling tokens, with its deployments. ``simulated`` marks the
    built-in fake fleet: such providers need no key and every record says so."""

    api_key_env: str | None = None
    simulated: bool = False
    timeouts: Timeouts | None = None
    deployments: list[Deployment]


class Tier(_Frozen):
    """Ordered candidate models of a tier; ``chinese_candidates`` replace them when
    the request is mostly Chinese text."""

    candidates: list[str] = Field(min_length=1)
    chinese_candidates: list[str] = Field(default_factory=list)
    hedge: bool = False


class KeyPolicy(_Frozen):
    """A gateway API key that callers present, and what it may use."""

    id: str
    key_env: str
    exclude_tiers: list[str] = Field(default_factory=list)
    exclude_models: list[str] = Field(default_factory=list)


class Auth(_Frozen):
    """With no keys, the gateway is open (a local playground)."""

    keys: list[KeyPolicy] = Field(default_factory=list)


class Listen(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class Limits(_Frozen):
    max_body_bytes: int = Field(default=20 * 1024 * 1024, gt=0)


class Retry(_Frozen):
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_base_s: float = Field(default=0.05, ge=0)
    backoff_max_s: float = Field(default=1.0, ge=0)


class Breaker(_Frozen):
    """Circuit breaker per deployment, driven by a window of recent outcomes."""

    window: int = Field(default=20, ge=2)
    min_requests: int = Field(default=5, ge=1)
    error_rate: float = Field(default=0.5, gt=0, le=1)
    consecutive_errors: int = Field(default=3, ge=1)
    slow_ms: float | None = Field(default=None, gt=0)
    open_s: float = Field(default=5.0, gt=0)
    max_open_s: float = Field(default=60.0, gt=0)
    # After a probe succeeds, traffic returns over this many seconds, not at once.
    ramp_s: float = Field(default=5.0, ge=0)
    probe_interval_s: float | None = Field(default=None, gt=0)


class Hedging(_Frozen):
    # With no latency history yet, hedge after this long.
    default_after_ms: float = Field(default=1000.0, gt=0)
    percentile: float = Field(default=95.0, gt=0, lt=100)


class LedgerSettings(_Frozen):
    """Where request records go. ``url`` is a SQLite path / ``sqlite:///path`` or a
    ``postgresql://`` URL; ``enabled: false`` keeps no ledger at all."""

    enabled: bool = True
    url: str = "sqlite:///tiergate-ledger.sqlite3"
    batch_size: int = Field(default=200, gt=0)
    flush_interval_s: float = Field(default=0.2, gt=0)
    queue_max: int = Field(default=50_000, gt=0)


class SharedState(_Frozen):
    """Health shared across replicas. ``memory`` keeps it in this process; ``redis``
    publishes breaker openings and Retry-After cooldowns for the other replicas."""

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "tiergate"
    sync_interval_s: float = Field(default=0.25, gt=0)


class Config(_Frozen):
    """The whole file. See the README's config reference for every field."""

    listen: Listen = Listen()
    region: str = "us-east"
    regions: list[str] = Field(default_factory=lambda: list(DEFAULT_REGIONS))
    nearest: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_NEAREST))
    limits: Limits = Limits()
    # Request-level deadline (total_s) and the per-attempt defaults providers inherit.
    timeouts: Timeouts = Timeouts()
    providers: dict[str, Provider] = Field(default_factory=dict)
    tiers: dict[str, Tier] = Field(default_factory=dict)
    catalog: dict[str, dict[str, Any]] = Field(default_factory=dict)
    classifier: ClassifierSettings = ClassifierSettings()
    auth: Auth = Auth()
    retry: Retry = Retry()
    breaker: Breaker = Breaker()
    hedging: Hedging = Hedging()
    ledger: LedgerSettings = LedgerSettings()
    state: SharedState = SharedState()
    access_log: bool = False
    exclude_models: list[str] = Field(default_factory=list)
    exclude_tiers: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            data.setdefault("tiers", default_tiers())
            data.setdefault("providers", simulated_providers())
            data["providers"] = _name_deployments(data["providers"])
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        _check_consistency(self)
        return self

    def build_catalog(self) -> Catalog:
        """The default catalog with this config's ``catalog:`` overrides applied."""
        return load_default_catalog().merged(self.catalog)

    def deployments(self) -> list[tuple[str, Provider, Deployment]]:
        """Every ``(provider name, provider, deployment)``."""
        return [
            (name, p, d) for name, p in self.providers.items() for d in p.deployments
        ]


def default_tiers() -> dict[str, dict[str, Any]]:
    """The brief's reference architecture as tier -> candidates."""
    return {
        "default": {
            "candidates": ["deepseek-v4-flash", "Qwen/Qwen3-32B", "deepseek-v3.2"],
            "chinese_candidates": ["glm-5", "deepseek-v4-pro"],
        },
        "classify": {
            "candidates": ["Qwen/Qwen3-8B", "glm-4-9b"],
            "chinese_candidates": ["glm-4-9b", "Qwen/Qwen3-8B"],
        },
        "reasoning": {
            "candidates": ["kimi-k2.5", "deepseek-r1", "Qwen/Qwen3.5-397B"],
            # Chinese math: GLM's Chinese lead first, Kimi's math lead as failover.
            "chinese_candidates": ["glm-5", "kimi-k2.5"],
        },
        "vision": {
            "candidates": ["Qwen/Qwen3-Omni-30B", "Qwen/Qwen3-VL-32B", "glm-4.6v"],
            "chinese_candidates": ["glm-4.6v", "Qwen/Qwen3-Omni-30B"],
        },
        "heavy": {
            "candidates": ["Qwen/Qwen3.5-397B", "kimi-k2.5", "deepseek-v4-pro"],
            "chinese_candidates": ["glm-5", "Qwen/Qwen3.5-397B"],
        },
    }


def simulated_providers(
    host: str = layout.DEFAULT_HOST,
    base_port: int = layout.DEFAULT_BASE_PORT,
    endpoints: list[layout.Endpoint] | None = None,
) -> dict[str, dict[str, Any]]:
    """Providers that point at the simulated fleet (``tiergate sim``'s layout, or the
    actual ``endpoints`` of a running fleet)."""
    providers: dict[str, dict[str, Any]] = {}
    for ep in endpoints if endpoints is not None else layout.endpoints(host, base_port):
        provider = providers.setdefault(
            ep.provider, {"simulated": True, "deployments": []}
        )
        provider["deployments"].append(
            {
                "base_url": ep.base_url,
                "region": ep.region,
                "models": dict(layout.PROVIDER_MODELS[ep.provider]),
                # The multi-family host is the second choice behind first parties.
                "weight": 0.25 if ep.provider == "siliconflow" else 1.0,
            }
        )
    return providers


def _name_deployments(providers: Any) -> Any:
    """Give every deployment without an ``id`` the id ``<provider>-<region>``."""
    if not isinstance(providers, dict):
        return providers
    named = {}
    for name, body in providers.items():
        if isinstance(body, dict) and isinstance(body.get("deployments"), list):
            body = dict(body)
            deployments = []
            for dep in body["deployments"]:
                if isinstance(dep, dict) and not dep.get("id"):
                    dep = {**dep, "id": f"{name}-{dep.get('region', 'default')}"}
                deployments.append(dep)
            body["deployments"] = deployments
        named[name] = body
    return named


def _check_consistency(config: Config) -> None:
    """Cross-field rules pydantic cannot express per field; raises ValueError."""
    catalog = config.build_catalog()
    seen: set[str] = set()

    for name, provider in config.providers.items():
        for index, dep in enumerate(provider.deployments):
            where = f"providers.{name}.deployments.{index}"
            if dep.id in seen:
                raise ValueError(f"{where}.id: duplicate deployment id {dep.id!r}")
            seen.add(dep.id)
            if dep.region not in config.regions:
                raise ValueError(
                    f"{where}.region: {dep.region!r} is not one of regions "
                    f"{config.regions}"
                )
            for model in dep.models:
                if model not in catalog:
                    raise ValueError(
                        f"{where}.models: {model!r} is not a catalog model"
                    )

    for tier_name, tier in config.tiers.items():
        for field in ("candidates", "chinese_candidates"):
            for model in getattr(tier, field):
                if model not in catalog:
                    raise ValueError(
                        f"tiers.{tier_name}.{field}: {model!r} is not a catalog model"
                    )

    if config.region not in config.regions:
        raise ValueError(
            f"region: {config.region!r} is not one of regions {config.regions}"
        )


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {path}: {message}" if path else f"  {message}")
    return "\n".join(lines)


def parse_config(data: Mapping[str, Any] | None, source: str = "(defaults)") -> Config:
    """Validate a parsed YAML mapping; raises ConfigError naming each bad field."""
    try:
        config = Config.model_validate(dict(data or {}))
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source)) from error
    check_environment(config)
    return config


def load_config(path: str | Path | None) -> Config:
    """Load and validate the YAML file at ``path``; ``None`` gives the defaults."""
    if path is None:
        return parse_config(None)

    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config {source}: {error.strerror}") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"config {source} is not valid YAML: {error}") from error
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config {source}: the top level must be a mapping")
    return parse_config(data, source)


def check_environment(config: Config) -> None:
    """Every key named by ``*_env`` must be set (values are never printed)."""
    missing = []
    for name, provider, dep in config.deployments():
        env = dep.api_key_env or provider.api_key_env
        if env is None and not provider.simulated:
            missing.append(f"providers.{name}: set api_key_env (no key for {dep.id})")
        elif env is not None and not os.environ.get(env):
            missing.append(f"providers.{name}: environment variable {env} is not set")
    for index, key in enumerate(config.auth.keys):
        if not os.environ.get(key.key_env):
            missing.append(
                f"auth.keys.{index}.key_env: environment variable {key.key_env} "
                "is not set"
            )
    if missing:
        raise ConfigError("invalid config environment:\n  " + "\n  ".join(missing))


def api_key_for(provider: Provider, dep: Deployment) -> str:
    """The upstream key to send; simulated providers get a placeholder."""
    env = dep.api_key_env or provider.api_key_env
    if env is None:
        return "simulated-no-key"
    return os.environ[env]
