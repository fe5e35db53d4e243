"""Run the whole pipeline through Dagster from the command line (`make run`, `paperlake run`).

The Dagster CLI cannot register dynamic partitions, so this registers one per landing file, runs
ingestion for all of them as one partition-range run, then the warehouse job, against the instance in
DAGSTER_HOME so the runs, checks and metadata show up in `make ui`.
"""

import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from paperlake import lake, landing
from paperlake.config import LandingError, Paths
from paperlake.pipeline import landing_files, unstaged
from pipelines.partitions import not_materialized, raw_files
from pipelines.resources import PaperlakeResource

DEFAULT_HOME = ".dagster"
PID_TAG = "paperlake/pid"  # lets a stopped `paperlake run` mark its own runs as canceled
INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")


@dataclass
class RunOutcome:
    files: int
    added: list[str]
    removed: list[str]
    ingested: int = 0  # files parsed by this run (new, changed, or never materialised)
    runs: dict[str, bool] = field(default_factory=dict)  # job name → success
    failed_checks: list[str] = field(default_factory=list)  # blocking (ERROR) checks that failed
    warned_checks: list[str] = field(default_factory=list)  # non-blocking (WARN) checks that failed

    @property
    def success(self) -> bool:
        return all(self.runs.values()) and not self.failed_checks


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME (default .dagster/) with our dagster.yaml: telemetry off, one warehouse writer."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def sync_partitions(
    instance: dg.DagsterInstance, keys: list[str], retain_removed: bool = False
) -> tuple[list[str], list[str]]:
    """Register new landing files; delete the partitions of removed ones unless they are retained."""
    registered = list(instance.get_dynamic_partitions(raw_files.name))
    added = [k for k in keys if k not in set(registered)]
    removed = [] if retain_removed else [k for k in registered if k not in set(keys)]
    if added:
        instance.add_dynamic_partitions(raw_files.name, added)
    for key in removed:
        instance.delete_dynamic_partition(raw_files.name, key)
    return added, removed


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
) -> RunOutcome:
    """Ingest the new and changed landing files (all of them with `full`) as partition-range runs, then
    build the warehouse; both on `instance`. Unchanged files are not re-read: one new file costs its own
    parse plus the warehouse build. One run at a time per output folder (a second one waits)."""
    if instance is None:
        ensure_dagster_home()
        instance = dg.DagsterInstance.get()
    keys = list(landing_files(paths.raw_dir))
    if not keys:
        raise LandingError(f"no captures in the landing folder {paths.raw_dir} (set PAPERLAKE_RAW_DIR)")
    with lake.writer_lock(paths, on_wait=lambda: log("waiting for another paperlake run to finish")):
        return _run_locked(paths, instance, keys, log, verbose, retain_removed, full)


def _run_locked(
    paths: Paths,
    instance: dg.DagsterInstance,
    keys: list[str],
    log,
    verbose: bool,
    retain_removed: bool,
    full: bool,
) -> RunOutcome:
    from pipelines.definitions import build_defs  # after DAGSTER_HOME is settled

    added, removed = sync_partitions(instance, keys, retain_removed)
    outcome = RunOutcome(files=len(keys), added=added, removed=removed)
    order = list(instance.get_dynamic_partitions(raw_files.name))
    state_path = paths.state_dir / "landing_state.json"
    previous = {} if full or not state_path.exists() else landing.load_state(state_path.read_text())
    change = landing.diff(previous, {k: paths.raw_dir / k for k in keys})
    current = [k for k in order if k in keys]
    todo = set(change.new) | set(change.changed) | not_materialized(instance, current) | unstaged(paths, keys)
    outcome.ingested = len(todo & set(order))
    run_config = {} if verbose else {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    resource = PaperlakeResource(
        raw_dir=str(paths.raw_dir),
        out_dir=str(paths.out_dir),
        catalog=paths.catalog or "",
        data_path=paths.data_path or "",
        retain_removed_files=retain_removed,
    )
    defs = build_defs(resource)
    ranges = landing.contiguous_ranges(order, todo)
    for first, last in ranges:
        log(f"ingest: {outcome.ingested} new or changed of {len(order)} files, range {first} … {last}")
        ingest = defs.resolve_job_def("ingest_job").execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config=run_config,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: first,
                ASSET_PARTITION_RANGE_END_TAG: last,
                PID_TAG: str(os.getpid()),
            },
        )
        outcome.runs["ingest_job"] = outcome.runs.get("ingest_job", True) and ingest.success
    if outcome.runs.get("ingest_job", True):
        state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(landing.dump_state(change.state), encoding="utf-8")
        os.replace(tmp, state_path)
    log("warehouse: resolve papers, write tables, audit, publish")
    warehouse = defs.resolve_job_def("warehouse_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=run_config, tags={PID_TAG: str(os.getpid())}
    )
    outcome.runs["warehouse_job"] = warehouse.success
    outcome.failed_checks = _failed_checks(warehouse, dg.AssetCheckSeverity.ERROR)
    outcome.warned_checks = _failed_checks(warehouse, dg.AssetCheckSeverity.WARN)
    return outcome


def stop_on_signals(on_stop: Callable[[int], None]) -> None:
    """Make SIGINT and SIGTERM stop this process within a second, whatever the main thread is doing.

    Python runs signal handlers only between bytecodes of the main thread, and Dagster's in-process
    executor defers SIGINT, so a run used to go on to its end. Instead the signals are blocked in every
    thread and a watcher thread waits for them: it calls `on_stop` (kill the workers, mark the runs) and
    exits. Nothing is published half-way: a version is published by one atomic swap, so the previous one
    stays in place."""
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)

    def watch() -> None:
        sig = signal.sigwait(stops)
        try:
            on_stop(sig)
        finally:
            sys.stdout.flush()
            os._exit(128 + sig)

    threading.Thread(target=watch, name="paperlake-stop", daemon=True).start()


def cancel_own_runs(home: Path, timeout: float = 2.0) -> None:
    """Kill this process's workers and mark its started Dagster runs as canceled (best effort, bounded)."""
    import multiprocessing

    for child in multiprocessing.active_children():
        child.kill()

    def mark() -> None:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            started = instance.get_runs(
                dg.RunsFilter(tags={PID_TAG: str(os.getpid())}, statuses=[dg.DagsterRunStatus.STARTED])
            )
            for run in started:
                instance.report_run_canceled(run, message="paperlake run stopped by a signal")

    worker = threading.Thread(target=mark, daemon=True)
    worker.start()
    worker.join(timeout)
