"""What changed in the landing folder since the last look: new, changed and removed files.

The state is a small dict key → [size, mtime_ns] (the sensor's cursor); each file is stat'ed, never
read, so a tick costs one stat per file.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LandingDiff:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    state: dict[str, list[int]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.new or self.changed or self.removed)


def snapshot(files: dict[str, Path]) -> dict[str, list[int]]:
    out = {}
    for key, path in files.items():
        try:
            st = path.stat()
        except OSError:
            continue  # vanished between listing and stat: the next tick sees it as removed
        out[key] = [st.st_size, st.st_mtime_ns]
    return out


def diff(previous: dict[str, list[int]], files: dict[str, Path]) -> LandingDiff:
    now = snapshot(files)
    return LandingDiff(
        new=sorted(k for k in now if k not in previous),
        changed=sorted(k for k in now if k in previous and previous[k] != now[k]),
        removed=sorted(k for k in previous if k not in now),
        state=now,
    )


def load_state(cursor: str | None) -> dict[str, list[int]]:
    return json.loads(cursor) if cursor else {}


def dump_state(state: dict[str, list[int]]) -> str:
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


def contiguous_ranges(order: list[str], wanted: set[str]) -> list[tuple[str, str]]:
    """Group `wanted` keys into (first, last) runs of consecutive keys in partition order."""
    ranges: list[tuple[str, str]] = []
    start = prev = None
    for key in order:
        if key in wanted:
            start = start or key
            prev = key
        elif start is not None:
            ranges.append((start, prev))
            start = None
    if start is not None:
        ranges.append((start, prev))
    return ranges
