"""Shared fixtures: a copy of the bundled sample, and one full Dagster run per session. Plugins: the test
lanes (tests/lanes.py) and the PostgreSQL server (tests/postgres.py). Constants and helpers are in
tests/helpers.py."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from paperlake.config import Paths
from tests.helpers import SAMPLE

pytest_plugins = ["tests.lanes", "tests.postgres"]


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(SAMPLE, raw)
    return raw


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory):
    """The whole pipeline through Dagster on the bundled sample, in a temporary instance and output folder."""
    from pipelines.run import run_pipeline

    out = tmp_path_factory.mktemp("out")
    paths = Paths(SAMPLE, out)
    with dg.instance_for_test() as instance:
        outcome = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
        yield paths, instance, outcome
