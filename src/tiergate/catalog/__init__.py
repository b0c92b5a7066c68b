"""The model catalog: prices, context windows, capabilities and quality per skill."""

from tiergate.catalog.models import (
    CAPABILITIES,
    SKILLS,
    Catalog,
    Family,
    Model,
    load_default_catalog,
)

__all__ = [
    "CAPABILITIES",
    "SKILLS",
    "Catalog",
    "Family",
    "Model",
    "load_default_catalog",
]
