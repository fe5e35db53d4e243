"""Run the whole pipeline through Dagster from the command line (`make run`, `paperlake run`).

The Dagster CLI cannot register dynamic partitions, so this registers one per landing day, runs
ingestion for the days with new, changed or removed files as day-range runs (only those files), then the
warehouse job, against the instance in DAGSTER_HOME so the runs, checks and metadata show up in `make ui`.
"""

import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dagster as dg

from assets.partitions import LANDING_DAYS, landing_days, range_tags, sync_days
from assets.resources import PaperlakeResource, resource_from_env
from paperlake import lake, landing, plan
from paperlake.config import LandingError, Paths, SettingError
from paperlake.state import outputs_missing, up_to_date
from pipelines.instance import ERROR_TAG, PID_TAG, PROGRESS_FD_ENV, ensure_dagster_home


@dataclass
class RunOutcome:
    added: list[str]
    removed: list[str]
    ingested: int = 0  # files parsed by this run (new, changed, or never materialised)
    runs: dict[str, bool] = field(default_factory=dict)  # job name → success
    failed_checks: list[str] = field(default_factory=list)  # blocking (ERROR) checks that failed
    warned_checks: list[str] = field(default_factory=list)  # non-blocking (WARN) checks that failed
    completed: list[str] = field(default_factory=list)  # outputs of the served version written late
    error: str = ""  # the first failed step and its cause, in one line (`failure_line`)

    @property
    def success(self) -> bool:
        return all(self.runs.values()) and not self.failed_checks


FULL_DISK = ("No space left on device", "database or disk is full", "Disk quota exceeded")
NEARLY_FULL = 1 << 20  # bytes free below which a disk counts as full (a failed write leaves a little)


def one_line(message: str, paths: Paths) -> str:
    """An error for a person: its first line; when a disk paperlake writes to is full (or the error says
    so), which folder and what to do."""
    line = (message.strip().splitlines() or ["unknown error"])[0]
    full = [str(folder) for folder in paths.written if _free(folder) < NEARLY_FULL]
    if full or any(text in message for text in FULL_DISK):
        where = " and ".join(full) or str(paths.out_dir)
        line += f" (no space left on the disk of {where}: free space and run `paperlake run` again; "
        line += "the served version is intact)"
    return line


def _free(folder: Path) -> int:
    """Bytes free on the disk holding `folder` (or its nearest existing parent)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return NEARLY_FULL


def failure_line(result: dg.ExecuteInProcessResult, paths: Paths) -> str:
    """The first failed step and its innermost cause, in one line ("" when no step failed): the error a
    user can act on (a full disk and its path), not Dagster's wrapper."""
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None and error.cause is not None:
            error = error.cause
        return f"{event.step_key} failed: {one_line(error.message if error else 'no error recorded', paths)}"
    return ""


def _failed_checks(result: dg.ExecuteInProcessResult, severity: dg.AssetCheckSeverity) -> list[str]:
    evaluations = result.get_asset_check_evaluations()
    return sorted(e.asset_check_key.name for e in evaluations if not e.passed and e.severity == severity)


def run_pipeline(
    paths: Paths,
    instance: dg.DagsterInstance | None = None,
    log=print,
    verbose: bool = True,
    retain_removed: bool = False,
    full: bool = False,
    plan_name: str | None = None,
) -> RunOutcome:
    """Ingest the landing days with new, changed or removed files (only those files; with `full` every
    day and every file) as day-range runs, then build the warehouse; both on `instance`. One new file
    costs its own parse plus the incremental warehouse steps. One run at a time per output folder (a
    second one waits). `plan_name` names the plan the caller made (`paperlake.plan`), else one is made."""
    if instance is None:
        ensure_dagster_home()
        instance = dg.DagsterInstance.get()
    with lake.writer_lock(paths, on_wait=lambda: log("waiting for another paperlake run to finish")):
        end_runs_of(None, "its process ended before the run finished", instance)
        run_plan = plan.load(paths, plan_name) if plan_name else None
        if plan_name is None or run_plan is None:  # none from the caller: make and save this run's own
            run_plan = plan.make(paths, retain_removed)
            plan_name = plan.save(paths, run_plan)
        return _run_locked(paths, instance, log, verbose, run_plan, plan_name, full)


def _run_locked(
    paths: Paths,
    instance: dg.DagsterInstance,
    log,
    verbose: bool,
    run_plan: plan.RunPlan,
    plan_name: str,
    full: bool,
) -> RunOutcome:
    from pipelines.definitions import build_defs  # after DAGSTER_HOME is settled

    now, change, retain_removed = run_plan.now, run_plan.change, run_plan.keep_removed
    run_plan.require_captures(paths)
    if not full and (version := up_to_date(paths, change)) is not None:
        missing = outputs_missing(paths, version)
        outcome = RunOutcome(added=[], removed=[], completed=missing)
        if missing:
            log(f"version {version}: writing its {' and '.join(missing)} (an earlier run stopped first)")
            run = _Runner(build_defs(build_resource(paths)), instance, paths, log, verbose, outcome)
            run("outputs_job", {PID_TAG: str(os.getpid())})
        else:
            log(f"nothing new: {len(now)} files unchanged, version {version} is published")
        return outcome
    days_now = run_plan.days
    if retain_removed:
        days_now |= set(instance.get_dynamic_partitions(LANDING_DAYS))
    sync_days(instance, days_now)
    order = list(instance.get_dynamic_partitions(LANDING_DAYS))
    todo = set(order) if full else (set(change.days) | not_materialized(instance, order)) & set(order)
    outcome = RunOutcome(
        added=change.new,
        removed=change.removed,
        ingested=len(now) if full else len(change.todo),
    )
    run = _Runner(
        build_defs(build_resource(paths, retain_removed, full)), instance, paths, log, verbose, outcome
    )
    tags = {PID_TAG: str(os.getpid()), plan.PLAN_TAG: plan_name}
    ranges = landing.contiguous_ranges(order, todo)
    for first, last in ranges[:-1]:  # rare: days that are not consecutive in partition order
        log(f"ingest: landing days {first} … {last}")
        run("ingest_job", {**tags, **range_tags(first, last, not full, plan_name)})
    if ranges:  # the last range and the warehouse in one run (one run's bookkeeping, not two)
        first, last = ranges[-1]
        log(
            f"{outcome.ingested} new or changed files of {len(now)} (landing days {first} … {last}), then "
            "resolve, write, audit, publish"
        )
        job, tags = "update_job", {**tags, **range_tags(first, last, not full, plan_name)}
    else:
        log("warehouse: resolve papers, write tables, audit, publish")
        job = "warehouse_job"
    result = run(job, tags)
    outcome.failed_checks = _failed_checks(result, dg.AssetCheckSeverity.ERROR)
    outcome.warned_checks = _failed_checks(result, dg.AssetCheckSeverity.WARN)
    return outcome


@dataclass
class _Runner:
    """Runs jobs of `defs` in this process on `instance`, says each step as it starts on `log` (the
    CLI's progress line), and records each job's success and the first failure in `outcome`."""

    defs: dg.Definitions
    instance: dg.DagsterInstance
    paths: Paths
    log: Callable[[str], object]
    verbose: bool
    outcome: RunOutcome

    def __call__(self, job: str, tags: dict[str, str]) -> dg.ExecuteInProcessResult:
        run_id = str(uuid.uuid4())
        self.instance.add_event_listener(run_id, self._say_step)
        quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # failures: `error`
        result = self.defs.resolve_job_def(job).execute_in_process(
            instance=self.instance,
            raise_on_error=False,
            run_config={} if self.verbose else quiet,
            tags=tags,
            run_id=run_id,
        )
        self.outcome.runs[job] = self.outcome.runs.get(job, True) and result.success
        if error := failure_line(result, self.paths):  # kept with the run: `paperlake status`, the UI
            self.instance.add_run_tags(run_id, {ERROR_TAG: error})
        self.outcome.error = self.outcome.error or error
        return result

    def _say_step(self, entry: dg.EventLogEntry) -> None:
        event = entry.dagster_event
        if event is not None and event.event_type == dg.DagsterEventType.STEP_START:
            self.log(f"{event.step_key} ({entry.job_name})")


def build_resource(paths: Paths, retain_removed: bool = False, rebuild: bool = False) -> PaperlakeResource:
    """The resource of a run on `paths`: the environment's settings (`resource_from_env`, as `make ui`
    reads them) with these paths and flags."""
    return resource_from_env(
        raw_dir=str(paths.raw_dir),
        out_dir=str(paths.out_dir),
        catalog=paths.catalog or "",
        data_path=paths.data_path or "",
        retain_removed_files=retain_removed,
        rebuild=rebuild,
    )


def not_materialized(instance: dg.DagsterInstance, days: list[str]) -> set[str]:
    """Landing days whose core_sightings partition is not materialised (never run, or failed)."""
    if not days:
        return set()
    status = instance.get_status_by_partition(dg.AssetKey("core_sightings"), days, landing_days) or {}
    return {d for d in days if status.get(d) != dg.AssetPartitionStatus.MATERIALIZED}


def end_runs_of(
    pid: int | None, why: str, instance: dg.DagsterInstance | None = None, canceled: bool = False
) -> int:
    """Mark the Dagster runs still STARTED of a `paperlake run` process that has ended (`pid`; None:
    of every such process no longer alive) as failed (`canceled`: stopped by a signal), so no run shows
    as running for ever. Best effort: when the instance itself cannot be written (its disk is full), the
    next run does it."""
    try:
        with contextlib.nullcontext(instance) if instance else dg.DagsterInstance.get() as held:
            started = held.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            ended = [
                r
                for r in started
                if (tag := r.tags.get(PID_TAG)) and (int(tag) == pid if pid else not _alive(int(tag)))
            ]
            for run in ended:
                report = held.report_run_canceled if canceled else held.report_run_failed
                report(run, message=f"paperlake run ended: {why}")
            return len(ended)
    except Exception:  # the instance is what failed: leave it to the next run
        return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def _exit_with_parent() -> None:
    """A supervised run dies with its supervisor: if `paperlake run` is killed (even with SIGKILL), this
    process group (the run, its workers, Dagster's log tailers) is killed too, instead of running on."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="paperlake-parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """The supervised side of `paperlake run` (`python -m pipelines.run`): runs the pipeline and reports
    progress, log lines and the outcome as JSON lines on the file descriptor PAPERLAKE_PROGRESS_FD.

    The CLI starts it before it has planned the run, so these imports overlap the listing of the landing
    folder; it then sends the plan's name on stdin (nothing, when there is no work: it exits). It runs in
    its own process group, so on Ctrl-C or SIGTERM the CLI can kill the whole group at once: Dagster's
    in-process executor defers interrupts until a step ends, which could be minutes."""
    _exit_with_parent()
    # before the Definitions are imported: their decorators warn of beta parameters on every run, which
    # garbles the progress bar and tells a user nothing they can act on (`make ui` still shows them)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from paperlake import progress
    from paperlake.config import retain_removed_from_env
    from pipelines import definitions  # noqa: F401  the Definitions' imports, while the CLI plans

    args = set(sys.argv[1:] if argv is None else argv)
    plan_name = sys.stdin.readline().strip()
    if not plan_name:
        return 0
    out = os.fdopen(int(os.environ[PROGRESS_FD_ENV]), "w", buffering=1)

    def send(**message) -> None:
        out.write(json.dumps(message) + "\n")

    progress.subscribe(lambda what, done, total: send(progress=[what, done, total]))
    try:
        outcome = run_pipeline(
            Paths.from_env(),
            log=lambda msg: send(log=msg),
            verbose="--verbose" in args,
            retain_removed=retain_removed_from_env(),
            full="--full" in args,
            plan_name=plan_name,
        )
    except (LandingError, SettingError) as exc:
        send(error=str(exc))
        return 2
    except Exception as exc:  # Dagster's own storage failed (a full disk under DAGSTER_HOME): one line
        if "--verbose" in args:
            traceback.print_exc()
        while exc.__cause__ or exc.__context__:
            exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        send(error=one_line(f"{type(exc).__name__}: {exc}", Paths.from_env()), failed=True)
        end_runs_of(os.getpid(), f"the run process failed: {exc}")
        return 1
    send(outcome=asdict(outcome))
    return 0 if outcome.success else 1


if __name__ == "__main__":
    sys.exit(main())
