"""The lake beyond one machine: its catalog in PostgreSQL, its data files on S3-compatible object storage.

The PostgreSQL server is Debian's, started in a temp folder (the fixture of tests/postgres.py); the object
store is moto's S3 server on 127.0.0.1, reached through the duckdb-extension-httpfs wheel.
"""

import boto3
import dagster as dg
import pytest
from moto.server import ThreadedMotoServer

from paperlake import lake
from paperlake.config import Paths
from paperlake.db import connect_readonly, connect_version
from pipelines.run import run_pipeline
from tests.helpers import SAMPLE, free_port
from tests.postgres import psql

pytestmark = [pytest.mark.dagster, pytest.mark.subprocess]
EXPECTED = {"pages": 5, "sightings": 283, "papers": 266}


def _run_and_check(paths: Paths) -> int:
    with dg.instance_for_test() as instance:
        outcome = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
    assert outcome.success, outcome
    with lake.open_lake(paths, read_only=True) as con:
        version = lake.last_version(con)
    for con in (connect_readonly(paths), connect_version(paths, version)):
        with con:
            assert {t: con.sql(f"SELECT count(*) FROM {t}").fetchone()[0] for t in EXPECTED} == EXPECTED
    with connect_readonly(paths) as con:
        assert con.sql("SELECT count(*) FROM search_papers('reasoning')").fetchone()[0] > 5
    return version


def test_lake_catalog_in_postgresql(postgres, tmp_path):
    catalog = f"postgres:dbname=dagster host=127.0.0.1 port={postgres} user=dagster"
    paths = Paths(SAMPLE, tmp_path / "out", catalog=catalog)
    _run_and_check(paths)
    assert not (tmp_path / "out" / "lake" / "catalog.sqlite").exists()
    assert int(psql(postgres, "SELECT count(*) FROM ducklake_snapshot")) > 5
    assert psql(postgres, "SELECT count(*) FROM ducklake_table WHERE table_name = 'sightings'") != "0"


@pytest.fixture
def s3(monkeypatch):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="paperlake")
    try:
        yield client
    finally:
        server.stop()


def test_lake_data_on_s3(s3, tmp_path):
    paths = Paths(SAMPLE, tmp_path / "out", data_path="s3://paperlake/lake/")
    _run_and_check(paths)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="paperlake").get("Contents", [])]
    assert any(k.startswith("lake/main/sightings/") and k.endswith(".parquet") for k in keys), keys
    assert not list((tmp_path / "out" / "lake").rglob("*.parquet"))  # no data file went to local disk
