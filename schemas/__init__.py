"""Pandera models: the one contract for every paperlake table."""

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
