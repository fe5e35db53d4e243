"""The test lanes, a pytest plugin (conftest.py loads it). A test marked `dagster` runs Dagster in the test
process (a run, or an instance that sensors are evaluated on); one marked `subprocess` starts a program
(the CLI, Dagster's CLI or webserver, PostgreSQL, Chromium, a Python child); one marked `slow` does neither
but takes seconds. `make test-fast` leaves all three out.

Tests using a fixture that runs Dagster or starts a server are marked here. A test in neither of those
lanes that runs Dagster or starts a program fails, so the fast lane stays fast and its tests honest. (In
those lanes Dagster and libraries may start programs of their own: matplotlib's fc-list, a log tail.)"""

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pytest

MARKED_BY_FIXTURE = {"pipeline_run": "dagster", "hostile_paths": "dagster", "postgres": "subprocess"}
# what each lane permits, refused to a test in neither
GUARDED = {
    "dagster": [
        (dg.DagsterInstance, "create_run_for_job"),  # execute_in_process, materialize, run_pipeline
        (dg.DagsterInstance, "create_run"),
        (dg, "instance_for_test"),  # sensors and schedules evaluated on an instance
    ],
    "subprocess": [(subprocess.Popen, "__init__")],  # subprocess.run, check_output, … too
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in MARKED_BY_FIXTURE.keys() & set(getattr(item, "fixturenames", ())):
            item.add_marker(MARKED_BY_FIXTURE[fixture])


def _refuse(marker: str, owner: object, name: str):
    what = f"{getattr(owner, '__name__', owner)}.{name}"

    def refuse(*_args, **_kwargs):
        pytest.fail(f"{what} in a test not marked `{marker}`: mark it @pytest.mark.{marker}", pytrace=False)

    return refuse


@contextmanager
def guard(marked: set[str]) -> Iterator[None]:
    """Inside, unless `marked` holds a lane's marker, a Dagster run or a new program fails the test."""
    with pytest.MonkeyPatch.context() as mp:
        if not marked & GUARDED.keys():
            for marker, targets in GUARDED.items():
                for owner, name in targets:
                    mp.setattr(owner, name, _refuse(marker, owner, name))
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    with guard({m.name for m in item.iter_markers()}):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with guard({m.name for m in item.iter_markers()}):
        return (yield)
