"""Pandera models: the one contract for every paperlake table."""

from schemas.tables import CONTRACT, Pages, Papers, Rejects, ResolvedSightings, Sightings

__all__ = ["CONTRACT", "Pages", "Papers", "Rejects", "ResolvedSightings", "Sightings"]
