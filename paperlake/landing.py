"""The landing folder's manifest and what changed in it: the one landing state of paperlake.

A file's landing day (its partition) is the first date in its path (`2024/05/12/…`, `hf_2024-05-12.txt`),
else the UTC day of its modification time: known from a stat, for any file, damaged or not a capture at
all. The manifest is key → FileState and costs one stat per file, never a read. What was ingested last is
recorded in the lake (staging.files, written with the parsed rows in the same commit), so the sensor,
`paperlake run` and the assets all compare the folder with the same record.
"""

import datetime as dt
import itertools
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from paperlake.config import LandingError
from paperlake.dates import first_date
from schemas.vocabulary import RejectReason

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
    day = first_date(DATE_IN_PATH, key) or dt.datetime.fromtimestamp(mtime_ns / 1e9, dt.UTC).date()
    return day.isoformat()


def key_of(rel: Path) -> str:
    """The name a landing file is stored and shown under: its relative posix path. A name that is valid
    UTF-8 is itself; any other byte is written `\\xNN` (and `\\` doubled), so every name is text that
    Parquet, DuckDB and a terminal can hold, losslessly (`path_of` reverses it)."""
    raw = os.fsencode(rel.as_posix())
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


_ESCAPE = re.compile(rb"\\(\\|x([0-9a-f]{2}))")


def path_of(raw_dir: Path, key: str) -> Path:
    """The landing file stored under `key`: the literal name if it exists, else the escaped name's bytes."""
    plain = raw_dir / key
    if "\\" not in key or plain.exists() or plain.is_symlink():
        return plain
    raw = _ESCAPE.sub(lambda m: bytes.fromhex(m[2].decode()) if m[2] else b"\\", key.encode("utf-8"))
    return raw_dir / os.fsdecode(raw)


def refusal(path: Path, raw_dir: Path) -> tuple[RejectReason, str] | None:
    """Why a landing entry is never opened, or None: a link whose target is outside the landing folder
    (its bytes are someone else's, not a capture), or anything that is not a regular file once links are
    followed (a broken link, a FIFO that would block the run, a device, a socket). Decided from stats."""
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if not target.is_relative_to(Path(os.path.realpath(raw_dir))):
            return RejectReason.LINK_OUTSIDE_LANDING, "a link to a file outside the landing folder"
        if not target.exists():
            return RejectReason.NOT_A_REGULAR_FILE, "a broken link"
    try:
        mode = path.stat().st_mode
    except OSError:  # vanished or not statable: reading it says so (unreadable_file)
        return None
    if not stat.S_ISREG(mode):
        kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
        return RejectReason.NOT_A_REGULAR_FILE, f"a {kind}, not a regular file"
    return None


def stat_of(path: Path, raw_dir: Path) -> os.stat_result:
    """The stat a file's state is made of: a link inside the folder counts as its target, any other
    entry as itself (a refused link is never followed)."""
    st = path.lstat()
    return path.stat() if stat.S_ISLNK(st.st_mode) and refusal(path, raw_dir) is None else st


def landing_files(raw_dir: Path, written: tuple[Path, ...] = ()) -> dict[str, Path]:
    """Key (`key_of` the path relative to raw_dir) → path, for every non-hidden entry that is not a folder:
    regular files, links (also broken ones) and special files; `refusal` says which are never opened.

    Hidden files and folders (a leading '.') are editor and download temp files by convention and are
    not captures; everything else ends as a pages row, and a non-capture becomes a rejected page. A link
    to a folder is not followed. The folders paperlake writes (`written`: the output folder, DAGSTER_HOME)
    are never landing files, even inside the landing folder or reached through a link: a run would
    otherwise ingest its own lake.
    """
    if not raw_dir.exists():
        raise LandingError(f"landing folder does not exist: {raw_dir}")
    if not raw_dir.is_dir():
        raise LandingError(f"landing folder is not a folder: {raw_dir}")
    ours = [Path(os.path.realpath(w)) for w in written]
    real_raw = Path(os.path.realpath(raw_dir))
    inside = [w for w in ours if w.is_relative_to(real_raw)]  # only these can be met, or linked to

    def is_ours(path: Path) -> bool:
        return any(Path(os.path.realpath(path)).is_relative_to(w) for w in inside)

    found: list[Path] = []
    failed: list[OSError] = []
    for folder, dirs, files in os.walk(raw_dir, onerror=failed.append):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not d.startswith(".") and not (inside and is_ours(here / d))]
        found += [here / f for f in files if not f.startswith(".")]
    if denied := [e for e in failed if isinstance(e, PermissionError)]:
        raise LandingError(f"landing folder is not readable: {denied[0].filename or raw_dir}")
    return {
        key_of(path.relative_to(raw_dir)): path
        for path in sorted(found)
        if not (inside and path.is_symlink() and is_ours(path))
    }


def manifest(raw_dir: Path, written: tuple[Path, ...] = ()) -> dict[str, FileState]:
    """Every landing file with its size, modification time and landing day (one stat each); `written`
    as in `landing_files`."""
    out = {}
    for key, path in landing_files(raw_dir, written).items():
        try:
            st = stat_of(path, raw_dir)
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
    runs = [list(run) for hit, run in itertools.groupby(order, wanted.__contains__) if hit]
    return [(run[0], run[-1]) for run in runs]
