"""Run the whole pipeline through Dagster from the command line (`make run`, `paperlake run`).

The Dagster CLI cannot register dynamic partitions, so this registers one per landing file, runs
ingestion for all of them as one partition-range run, then the warehouse job, against the instance in
DAGSTER_HOME so the runs, checks and metadata show up in `make ui`.
"""

import json
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
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
PROGRESS_FD_ENV = "PAPERLAKE_PROGRESS_FD"
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


def cancel_runs_of(pid: int) -> None:
    """Mark the started Dagster runs of a stopped `paperlake run` process as canceled."""
    with dg.DagsterInstance.get() as instance:
        started = instance.get_runs(
            dg.RunsFilter(tags={PID_TAG: str(pid)}, statuses=[dg.DagsterRunStatus.STARTED])
        )
        for run in started:
            instance.report_run_canceled(run, message="paperlake run stopped by a signal")


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

    The CLI runs this in its own process group, so on Ctrl-C or SIGTERM it can kill the whole group at
    once: Dagster's in-process executor defers interrupts until a step ends, which could be minutes."""
    from paperlake import progress
    from pipelines.resources import retain_removed_from_env

    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    args = set(sys.argv[1:] if argv is None else argv)
    out = os.fdopen(int(os.environ[PROGRESS_FD_ENV]), "w", buffering=1)

    def send(**message) -> None:
        out.write(json.dumps(message) + "\n")

    _exit_with_parent()
    progress.subscribe(lambda what, done, total: send(progress=[what, done, total]))
    try:
        outcome = run_pipeline(
            Paths.from_env(),
            log=lambda msg: send(log=msg),
            verbose="--verbose" in args,
            retain_removed=retain_removed_from_env(),
            full="--full" in args,
        )
    except LandingError as exc:
        send(error=str(exc))
        return 2
    send(outcome=asdict(outcome))
    return 0 if outcome.success else 1


if __name__ == "__main__":
    sys.exit(main())
