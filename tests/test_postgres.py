"""The PostgreSQL instance profile (deploy/postgres.dagster.yaml): a local PostgreSQL server from Debian's
package is started in a temp folder, `paperlake run` runs against it, and the runs, the dynamic
partitions and the asset events are in PostgreSQL, not in SQLite files."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from paperlake import landing
from tests.helpers import ROOT, SAMPLE

pytestmark = pytest.mark.subprocess
PG_BIN = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture
def postgres():
    if PG_BIN is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    # not under pytest's tmp_path: that is private to root, and the server runs as `postgres`
    tmp_path = Path(tempfile.mkdtemp(prefix="paperlake-pg-"))
    tmp_path.chmod(0o755)
    data = tmp_path / "pgdata"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        shutil.chown(tmp_path, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "dagster", "--auth=trust"]),
        check=True,
        capture_output=True,
    )
    log = tmp_path / "pg.log"
    subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-o",
                f"-p {port} -k {tmp_path} -c listen_addresses=127.0.0.1",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "dagster",
                "-d",
                "postgres",
                "-c",
                "CREATE DATABASE dagster",
            ],
            check=True,
            capture_output=True,
        )
        yield port
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True
        )
        shutil.rmtree(tmp_path, ignore_errors=True)


def _psql(port: int, sql: str) -> str:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "-d", "dagster", "-tAc", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


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
    assert _psql(postgres, "SELECT count(*) FROM runs WHERE status = 'SUCCESS'") == "1"  # update_job
    assert _psql(
        postgres, "SELECT count(*) FROM dynamic_partitions WHERE partitions_def_name = 'landing_days'"
    ) == str(len({f.day for f in landing.manifest(SAMPLE).values()}))
    assert (
        int(
            _psql(
                postgres, "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
            )
        )
        > 10
    )
    assert not list(home.rglob("*.db"))  # nothing went to SQLite
