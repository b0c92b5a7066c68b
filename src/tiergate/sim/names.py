"""Resolve the model name a caller sends to a catalog model.

Every simulated endpoint answers every catalog model, under any of its names: the
catalog id, the id without its organisation prefix (``Qwen/Qwen3-8B`` ->
``Qwen3-8B``) and each provider's upstream name from :mod:`tiergate.sim.layout`
(``deepseek-reasoner`` -> ``deepseek-r1``), all case-insensitive.
"""

from __future__ import annotations

from tiergate.catalog import Catalog, Model
from tiergate.sim.layout import PROVIDER_MODELS


class ModelNames:
    """Name -> catalog model lookup built once per fleet."""

    def __init__(self, catalog: Catalog) -> None:
        self._by_name: dict[str, Model] = {}
        for model in catalog:
            self._by_name[model.id.lower()] = model
            self._by_name[model.id.rsplit("/", 1)[-1].lower()] = model
        for served in PROVIDER_MODELS.values():
            for model_id, upstream in served.items():
                hosted = catalog.get(model_id)
                if hosted is not None:
                    self._by_name.setdefault(upstream.lower(), hosted)

    def resolve(self, name: str) -> Model | None:
        """The catalog model called ``name``, or ``None`` when no name matches."""
        return self._by_name.get(name.lower())
