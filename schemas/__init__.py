"""Pandera models: the one contract for every paperlake table.

The models are imported on first use (PEP 562): `schemas.vocabulary` alone, which the read path needs
for `paperlake status`, does not pay for pandera and pandas (~2 s)."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.tables import (
        CONTRACT,
        Matches,
        Pages,
        PaperLinks,
        Papers,
        PaperTopics,
        Rejects,
        ResolvedSightings,
        Sightings,
        UpvoteHistory,
    )

__all__ = [
    "CONTRACT",
    "Matches",
    "Pages",
    "PaperLinks",
    "PaperTopics",
    "Papers",
    "Rejects",
    "ResolvedSightings",
    "Sightings",
    "UpvoteHistory",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'schemas' has no attribute {name!r}")
    from schemas import tables

    return getattr(tables, name)
