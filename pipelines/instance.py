"""Where the Dagster instance lives, and how `paperlake run` talks to its supervised child. Imports no
Dagster: the CLI uses it before deciding there is work (importing Dagster costs ~1 s)."""

import os
import shutil
from pathlib import Path

DEFAULT_HOME = ".dagster"
PROGRESS_FD_ENV = "PAPERLAKE_PROGRESS_FD"  # the child's JSON lines: progress, log lines, the outcome
PID_TAG = "paperlake/pid"  # the `paperlake run` process of a Dagster run: ended runs are marked so
ERROR_TAG = "paperlake/error"  # a failed run's first failed step and its cause, in one line (`status`)
INSTANCE_CONFIG = Path(__file__).with_name("dagster.yaml")


def dagster_home() -> Path:
    """DAGSTER_HOME (default .dagster/), not made."""
    return Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME (default .dagster/) with our dagster.yaml: telemetry off, one warehouse writer."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_CONFIG, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
