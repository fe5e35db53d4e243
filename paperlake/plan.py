"""Which files a run parses and which it retracts: the run plan, made from one listing of the landing
folder compared with what the lake ingested (staging.files; size and mtime, no file is read).

A plan is saved in the state folder and travels with its Dagster runs as the `paperlake/plan` tag: the
CLI, the sensor and every asset of the run read that one listing. A run launched without one (a re-run
from the UI, the schedule) makes its plan on first use and keeps it under its run id, so its other
assets read the same. Each asset still compares the listing with the lake when it runs, so a plan
made before another run finished stays correct.
"""

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from paperlake import lake, landing
from paperlake.config import LandingError, Paths, write_whole
from paperlake.landing import FileState, LandingDiff
from paperlake.state import ingested_state

PLAN_TAG = "paperlake/plan"
KEEP_SECONDS = 7 * 86400  # a plan file outlives any queued run that may still read it


@dataclass(frozen=True)
class RunPlan:
    """The landing folder as listed for one run (`now`), how it differs from what the lake ingested
    (`change`: removed files count only when they are retracted), and every ingested file no longer
    listed (`gone`)."""

    now: dict[str, FileState]
    change: LandingDiff
    gone: list[str]
    keep_removed: bool

    @property
    def current(self) -> list[str]:
        """The files the warehouse holds after the run: resolution retracts the rows of any other."""
        return sorted(set(self.now) | (set(self.gone) if self.keep_removed else set()))

    @property
    def days(self) -> set[str]:
        """The landing days that have files in the listing."""
        return {f.day for f in self.now.values()}

    def day_files(
        self, ingested: dict[str, FileState], days: set[str], changed_only: bool
    ) -> tuple[list[str], list[str]]:
        """(files to parse, files to retract) of a run over landing `days`, against what the lake
        ingested now: the new or changed files of those days (all of their files unless `changed_only`),
        and their ingested files no longer listed (none when removed files are retained). A file that
        moved to another day is parsed by that day's run, never retracted by this one."""
        diff = landing.diff(ingested, self.now, self.keep_removed)
        todo = diff.todo if changed_only else self.now
        parse = sorted(k for k in todo if self.now[k].day in days)
        return parse, [k for k in diff.removed if ingested[k].day in days]

    def require_captures(self, paths: Paths) -> None:
        """An empty landing folder is refused when the lake holds files it would retract: far more often
        a wrong path or an unmounted disk than a wish to retract everything. With nothing ingested yet
        (a first build), an empty folder builds an empty, valid version."""
        if not self.now and self.change.removed:
            raise LandingError(
                f"no captures in the landing folder {paths.raw_dir}, whose {len(self.change.removed)} "
                "ingested files would all be retracted: add files or set PAPERLAKE_RAW_DIR (to start "
                "empty, use a new PAPERLAKE_OUT_DIR)"
            )


def make(paths: Paths, keep_removed: bool = False) -> RunPlan:
    """List the landing folder (the one listing of a run) and compare it with the lake's record."""
    now = landing.manifest(paths.raw_dir, paths.written)
    try:
        with lake.open_lake(paths, read_only=True) as con:
            ingested = ingested_state(con)
    except FileNotFoundError:  # no lake yet: everything is new
        ingested = {}
    gone = sorted(k for k in ingested if k not in now)
    return RunPlan(now, landing.diff(ingested, now, keep_removed), gone, keep_removed)


def save(paths: Paths, plan: RunPlan, name: str | None = None) -> str:
    """Write the plan under `name` (default: a digest of its content) and return that name; plans older
    than a week are deleted."""
    now = {k: [f.size, f.mtime_ns, f.day] for k, f in sorted(plan.now.items())}
    body = json.dumps(
        {"now": now, "change": asdict(plan.change), "gone": plan.gone, "keep_removed": plan.keep_removed}
    )
    name = name or hashlib.sha256(body.encode()).hexdigest()[:20]
    folder = paths.state_dir / "plans"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        if old.stat().st_mtime < time.time() - KEEP_SECONDS:
            old.unlink(missing_ok=True)
    write_whole(folder / f"{name}.json", body.encode())
    return name


def load(paths: Paths, name: str) -> RunPlan | None:
    """The plan saved under `name`, or None when there is none."""
    try:
        body = json.loads((paths.state_dir / "plans" / f"{name}.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    now = {k: FileState(*v) for k, v in body["now"].items()}
    return RunPlan(now, LandingDiff(**body["change"]), body["gone"], body["keep_removed"])


def for_run(paths: Paths, tags: Mapping[str, str], run_id: str, keep_removed: bool) -> RunPlan:
    """The plan a run carries (its tag), else the one it made first (under its run id), else a new one."""
    name = tags.get(PLAN_TAG) or run_id
    if (plan := load(paths, name)) is not None:
        return plan
    plan = make(paths, keep_removed)
    save(paths, plan, name)
    return plan
