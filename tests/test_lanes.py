"""The lanes hold: every registered marker marks tests, and a test in neither the `dagster` nor the
`subprocess` lane can neither run Dagster nor start a program (tests/lanes.py)."""

import re
import subprocess
import tomllib

import dagster as dg
import pytest

from tests import lanes
from tests.helpers import ROOT


def registered_markers() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {line.split(":")[0] for line in config["tool"]["pytest"]["ini_options"]["markers"]}


def test_every_registered_marker_marks_tests():
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    used = set(re.findall(r"pytest\.mark\.(\w+)", sources)) | set(lanes.MARKED_BY_FIXTURE.values())
    assert registered_markers() - used == set()
    assert set(lanes.GUARDED) <= registered_markers()


@dg.asset
def one() -> int:
    return 1


def test_outside_the_dagster_and_subprocess_lanes_no_run_and_no_program():
    with lanes.guard(set()):
        for attempt in (
            lambda: dg.materialize([one]),
            dg.instance_for_test,
            lambda: subprocess.run(["true"], check=True),
        ):
            with pytest.raises(pytest.fail.Exception, match="in a test not marked"):
                attempt()
        assert one() == 1  # calling an asset (or a check) directly is no run
