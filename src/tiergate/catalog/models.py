"""Catalog entries and the loader for the catalog shipped with the package.

Capability and quality are explicit data, never inferred from a model's name: the
brief's own example is Qwen3.6-35B, which is newer than Qwen3.5-397B and not better.
An unknown price stays ``None`` all the way to the reports, so that a blended cost is
never understated by pricing an unknown model at zero.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

Capability = Literal["text", "vision", "audio", "video", "tools", "reasoning"]
CAPABILITIES: tuple[str, ...] = (
    "text",
    "vision",
    "audio",
    "video",
    "tools",
    "reasoning",
)
SKILLS: tuple[str, ...] = ("chat", "code", "math", "chinese")


class Family(BaseModel):
    """A model family and the company behind it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    developer: str
    price_range_out: tuple[float, float] | None = None


class Model(BaseModel):
    """One catalog model. Prices are USD per million tokens, ``None`` when unknown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = ""
    family: str
    price_out_per_m: float | None = Field(default=None, ge=0)
    price_in_per_m: float | None = Field(default=None, ge=0)
    context_window: int = Field(gt=0)
    capabilities: frozenset[Capability]
    quality: dict[str, int] = Field(default_factory=dict)
    tokens_per_second: float | None = Field(default=None, gt=0)
    notes: str = ""

    @field_validator("quality")
    @classmethod
    def _skills_in_range(cls, value: dict[str, int]) -> dict[str, int]:
        for skill, score in value.items():
            if not 0 <= score <= 100:
                raise ValueError(
                    f"quality.{skill} must be between 0 and 100, got {score}"
                )
        return value

    def can(self, capability: str) -> bool:
        """True when the model declares ``capability``."""
        return capability in self.capabilities

    def score(self, skill: str) -> int:
        """The model's quality score for ``skill``, 0 when the catalog gives none."""
        return self.quality.get(skill, 0)


class Catalog:
    """An immutable lookup of models by id, with their families."""

    def __init__(self, models: Mapping[str, Model], families: Mapping[str, Family]):
        self._models = dict(models)
        self._families = dict(families)
        self._lower = {key.lower(): key for key in self._models}

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and model_id in self._models

    def __iter__(self) -> Iterator[Model]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def __getitem__(self, model_id: str) -> Model:
        return self._models[model_id]

    def get(self, model_id: str) -> Model | None:
        """The model with this id, matched case-insensitively, or ``None``."""
        exact = self._models.get(model_id)
        if exact is not None:
            return exact
        key = self._lower.get(model_id.lower())
        return self._models[key] if key is not None else None

    @property
    def families(self) -> Mapping[str, Family]:
        return self._families

    def merged(self, overrides: Mapping[str, Mapping[str, Any]]) -> Catalog:
        """A new catalog with ``overrides`` applied: new ids are added, known ids are
        updated field by field (so a config can fix one price without restating the
        model)."""
        models = dict(self._models)
        for model_id, fields in overrides.items():
            base = models[model_id].model_dump() if model_id in models else {}
            base.update(fields)
            base["id"] = model_id
            models[model_id] = Model.model_validate(base)
        return Catalog(models, self._families)


def parse_catalog(raw: Mapping[str, Any]) -> Catalog:
    """Build a catalog from the YAML structure (``families`` and ``models``)."""
    families = {
        name: Family.model_validate(body)
        for name, body in raw.get("families", {}).items()
    }
    models = {
        model_id: Model.model_validate({**body, "id": model_id})
        for model_id, body in raw.get("models", {}).items()
    }
    for model in models.values():
        if model.family not in families:
            raise ValueError(f"model {model.id!r}: unknown family {model.family!r}")
    return Catalog(models, families)


@cache
def load_default_catalog() -> Catalog:
    """The catalog shipped inside the package (``catalog/default.yaml``)."""
    text = (
        resources.files("tiergate.catalog").joinpath("default.yaml").read_text("utf-8")
    )
    return parse_catalog(yaml.safe_load(text))
