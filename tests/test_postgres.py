"""The PostgreSQL instance profile (deploy/postgres.dagster.yaml): a local PostgreSQL server from Debian's
package is started in a temp folder, `paperlake run` runs against it, and the runs, the dynamic
partitions and the asset events are in PostgreSQL, not in SQLite files."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paperlake import landing
from tests.helpers import ROOT, SAMPLE
from tests.postgres import psql

pytestmark = pytest.mark.subprocess


def test_instance_in_postgres(postgres, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(ROOT / "deploy" / "postgres.dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PAPERLAKE_RAW_DIR": str(SAMPLE),
        "PAPERLAKE_OUT_DIR": str(tmp_path / "out"),
        "DAGSTER_PG_URL": f"postgresql+psycopg2://dagster@127.0.0.1:{postgres}/dagster",
    }
    started = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("paperlake")), "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert time.perf_counter() - started < 300
    assert psql(postgres, "SELECT count(*) FROM runs WHERE status = 'SUCCESS'") == "1"  # update_job
    assert psql(
        postgres, "SELECT count(*) FROM dynamic_partitions WHERE partitions_def_name = 'landing_days'"
    ) == str(len({f.day for f in landing.manifest(SAMPLE).values()}))
    assert (
        int(
            psql(
                postgres, "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
            )
        )
        > 10
    )
    assert not list(home.rglob("*.db"))  # nothing went to SQLite
