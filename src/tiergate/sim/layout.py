"""Where the simulated fleet listens: one endpoint per provider and region.

This is the one place that names the simulated providers and their ports, so that
``tiergate sim`` and the gateway's built-in default config agree without either
importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass

REGIONS: tuple[str, ...] = ("us-east", "eu-west", "apac")

# provider -> {catalog model id: upstream model name}. First-party providers serve
# their own family under their own names; "siliconflow" is a multi-family host that
# serves every open-weight model under catalog ids, which gives most models a second
# provider to fail over to.
PROVIDER_MODELS: dict[str, dict[str, str]] = {
    "deepseek": {
        "deepseek-v4-flash": "deepseek-v4-flash",
        "deepseek-v3.2": "deepseek-v3.2",
        "deepseek-v4-pro": "deepseek-v4-pro",
        "deepseek-r1": "deepseek-reasoner",
        "deepseek-coder": "deepseek-coder",
    },
    "alibaba": {
        "Qwen/Qwen3-8B": "qwen3-8b",
        "Qwen/Qwen3-32B": "qwen3-32b",
        "Qwen/Qwen3-Coder-30B": "qwen3-coder-30b",
        "Qwen/Qwen3-VL-32B": "qwen3-vl-32b",
        "Qwen/Qwen3-Omni-30B": "qwen3-omni-30b",
        "Qwen/Qwen3.5-397B": "qwen3.5-397b",
        "Qwen/Qwen3.6-35B": "qwen3.6-35b",
    },
    "moonshot": {"kimi-k2.5": "kimi-k2.5"},
    "zhipu": {"glm-4-9b": "glm-4-9b", "glm-5": "glm-5", "glm-4.6v": "glm-4.6v"},
    "siliconflow": {
        model: model
        for model in (
            "deepseek-v4-flash",
            "deepseek-v3.2",
            "deepseek-r1",
            "Qwen/Qwen3-8B",
            "Qwen/Qwen3-32B",
            "Qwen/Qwen3-Coder-30B",
            "Qwen/Qwen3-VL-32B",
            "Qwen/Qwen3-Omni-30B",
            "Qwen/Qwen3.5-397B",
            "kimi-k2.5",
            "glm-4-9b",
            "glm-5",
            "glm-4.6v",
        )
    },
}

PROVIDERS: tuple[str, ...] = tuple(PROVIDER_MODELS)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_BASE_PORT = 9100
ADMIN_PORT_OFFSET = -1  # the admin API listens just below the first provider port


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One simulated provider in one region."""

    provider: str
    region: str
    host: str
    port: int

    @property
    def name(self) -> str:
        return f"{self.provider}-{self.region}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"


def endpoints(
    host: str = DEFAULT_HOST, base_port: int = DEFAULT_BASE_PORT
) -> list[Endpoint]:
    """Every provider x region endpoint at consecutive ports from ``base_port``."""
    found = []
    for p_index, provider in enumerate(PROVIDERS):
        for r_index, region in enumerate(REGIONS):
            port = base_port + p_index * len(REGIONS) + r_index
            found.append(Endpoint(provider, region, host, port))
    return found


def admin_url(host: str = DEFAULT_HOST, base_port: int = DEFAULT_BASE_PORT) -> str:
    return f"http://{host}:{base_port + ADMIN_PORT_OFFSET}"
