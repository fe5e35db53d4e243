"""The landing folder's manifest and what changed in it: the one landing state of paperlake.

A file's landing day (its partition) is the first date in its path (`2024/05/12/…`, `hf_2024-05-12.txt`),
else the UTC day of its modification time: known from a stat, for any file, damaged or not a capture at
all. The manifest is key → FileState and costs one stat per file, never a read. What was ingested last is
recorded in the lake (staging.files, written with the parsed rows in the same commit), so the sensor,
`paperlake run` and the assets all compare the folder with the same record.
"""

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from paperlake.config import LandingError

DATE_IN_PATH = re.compile(r"(?<!\d)((?:19|20)\d\d)[-_/.]?(0[1-9]|1[0-2])[-_/.]?(0[1-9]|[12]\d|3[01])(?!\d)")


@dataclass(frozen=True)
class FileState:
    size: int
    mtime_ns: int
    day: str  # the landing day, YYYY-MM-DD: the file's partition


@dataclass
class LandingDiff:
    """New, changed and removed files, and the landing days they touch (a changed file that moved to
    another day touches both)."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new or self.changed or self.removed)

    @property
    def todo(self) -> list[str]:
        return sorted(self.new + self.changed)


def landing_day(key: str, mtime_ns: int) -> str:
    """The first valid date in the file's relative path, else the UTC date of its modification time."""
    for m in DATE_IN_PATH.finditer(key):
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:  # 2024-02-31: not a date, look further
            continue
    return dt.datetime.fromtimestamp(mtime_ns / 1e9, dt.UTC).date().isoformat()


def landing_files(raw_dir: Path) -> dict[str, Path]:
    """Key (posix path relative to raw_dir) → file, for every regular, non-hidden file.

    Hidden files and folders (a leading '.') are editor and download temp files by convention and are
    not captures; everything else is read, and a non-capture becomes a rejected page.
    """
    if not raw_dir.exists():
        raise LandingError(f"landing folder does not exist: {raw_dir}")
    if not raw_dir.is_dir():
        raise LandingError(f"landing folder is not a folder: {raw_dir}")
    out: dict[str, Path] = {}
    try:
        for path in sorted(raw_dir.rglob("*")):
            rel = path.relative_to(raw_dir)
            if any(part.startswith(".") for part in rel.parts) or not path.is_file():
                continue
            out[rel.as_posix()] = path
    except PermissionError as exc:
        raise LandingError(f"landing folder is not readable: {exc.filename or raw_dir}") from exc
    return out


def manifest(raw_dir: Path) -> dict[str, FileState]:
    """Every landing file with its size, modification time and landing day (one stat each)."""
    out = {}
    for key, path in landing_files(raw_dir).items():
        try:
            st = path.stat()
        except OSError:
            continue  # vanished between listing and stat: the next look sees it as removed
        out[key] = FileState(st.st_size, st.st_mtime_ns, landing_day(key, st.st_mtime_ns))
    return out


def diff(
    ingested: dict[str, FileState], now: dict[str, FileState], keep_removed: bool = False
) -> LandingDiff:
    """Compare the folder now with what was ingested (size and mtime; a file is never read here)."""
    new = sorted(k for k in now if k not in ingested)
    changed = sorted(k for k in now if k in ingested and ingested[k] != now[k])
    removed = [] if keep_removed else sorted(k for k in ingested if k not in now)
    days = {now[k].day for k in new + changed} | {ingested[k].day for k in changed + removed}
    return LandingDiff(new, changed, removed, sorted(days))


def contiguous_ranges(order: list[str], wanted: set[str]) -> list[tuple[str, str]]:
    """Group `wanted` keys into (first, last) runs of consecutive keys in partition order."""
    ranges: list[tuple[str, str]] = []
    start: str | None = None
    prev = ""
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
