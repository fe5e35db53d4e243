"""Shared fixtures (a copy of the bundled sample, one full Dagster run per session) and the test lanes
(constants and helpers are in tests/helpers.py).

Lanes: a test marked `dagster` runs Dagster (a run, or an instance with storage); one marked `subprocess`
starts a program (the CLI, the Dagster CLI or webserver, PostgreSQL, Chromium, a Python child). `make
test-fast` leaves both out. Tests that use a fixture which runs Dagster are marked here; a test that does
either without its marker fails, so the fast lane stays fast and the markers stay true."""

import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from paperlake.config import Paths
from tests.helpers import SAMPLE

MARKED_BY_FIXTURE = {"pipeline_run": "dagster", "hostile_tables": "dagster"}
# what each lane's marker permits: a Dagster run or test instance, a new program
GUARDED = {
    "dagster": [(dg.DagsterInstance, "create_run"), (dg, "instance_for_test")],
    "subprocess": [(subprocess.Popen, "__init__")],
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in MARKED_BY_FIXTURE.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(MARKED_BY_FIXTURE[fixture])


def _refuse(marker: str, name: str):
    def refuse(*_args, **_kwargs):
        pytest.fail(f"{name} in a test not marked `{marker}`: mark it @pytest.mark.{marker}", pytrace=False)

    return refuse


@contextmanager
def _lane(item: pytest.Item):
    """While `item` sets up and runs, what its missing markers stand for raises."""
    marked = {m.name for m in item.iter_markers()}
    with pytest.MonkeyPatch.context() as mp:
        for marker, targets in GUARDED.items():
            if marker not in marked:
                for owner, name in targets:
                    mp.setattr(owner, name, _refuse(marker, name))
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    with _lane(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with _lane(item):
        return (yield)


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
