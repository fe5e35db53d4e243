"""Landing and ingestion without Dagster: a file's landing day, and batches parsed in worker processes."""

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from paperlake import landing, plan, steps
from paperlake.config import Paths
from schemas import Pages, Rejects, Sightings
from tests.helpers import SAMPLE


def test_landing_days_come_from_the_path_else_the_modification_time():
    noon = int(dt.datetime(2024, 3, 9, 12, tzinfo=dt.UTC).timestamp() * 1e9)
    assert landing.landing_day("x.txt", noon) == "2024-03-09"
    assert landing.landing_day("2024/05/12/x.txt", noon) == "2024-05-12"
    assert landing.landing_day("hf_20240512_daily.txt", noon) == "2024-05-12"
    assert landing.landing_day("2024-02-31_then_2024-02-29.txt", noon) == "2024-02-29"  # not a date, next
    assert landing.landing_day("000_7cb6f7359ec6334f.txt", noon) == "2024-03-09"  # hex is not a date


def test_a_day_range_run_parses_its_new_and_changed_files_and_retracts_its_removed_ones():
    """`RunPlan.day_files` on a hand-made listing: which files a run over some landing days parses and
    retracts, with and without changed_only, and with removed files retained."""
    day1, day2 = "2024-05-01", "2024-05-02"
    ingested = {
        "same.txt": landing.FileState(10, 1, day1),
        "edited.txt": landing.FileState(10, 1, day1),
        "moved.txt": landing.FileState(10, 1, day1),  # touched: its landing day is now day 2
        "gone.txt": landing.FileState(10, 1, day1),
        "other_day_gone.txt": landing.FileState(10, 1, day2),
    }
    now = {
        "same.txt": landing.FileState(10, 1, day1),
        "edited.txt": landing.FileState(11, 2, day1),
        "moved.txt": landing.FileState(10, 2, day2),
        "new.txt": landing.FileState(5, 3, day1),
    }

    def files(days: set[str], changed_only: bool, keep_removed: bool = False):
        listed = plan.RunPlan(now, landing.diff(ingested, now, keep_removed), [], keep_removed)
        return listed.day_files(ingested, days, changed_only)

    assert files({day1}, True) == (["edited.txt", "new.txt"], ["gone.txt"])
    assert files({day1}, False) == (["edited.txt", "new.txt", "same.txt"], ["gone.txt"])
    assert files({day2}, True) == (["moved.txt"], ["other_day_gone.txt"])  # parsed by its new day only
    assert files({day1, day2}, True, keep_removed=True) == (["edited.txt", "moved.txt", "new.txt"], [])


@pytest.mark.slow
def test_batches_in_worker_processes_write_what_one_process_writes(tmp_path, monkeypatch):
    """Seeds + hostile files in batches of 3 over 2 spawned workers vs one process: identical lake rows."""
    hostile = Path(__file__).parent / "hostile"
    raw = tmp_path / "raw"
    shutil.copytree(SAMPLE, raw)
    shutil.copytree(hostile, raw / "hostile")
    keys = sorted(landing.landing_files(raw))
    monkeypatch.setattr(steps, "CORE_BATCH", 3)  # many batches, spread over the workers
    frames = {}
    for workers in (1, 2):
        paths = Paths(raw, tmp_path / f"out{workers}")
        assert plan.make(paths).change.new == keys
        run_plan = plan.make(paths)
        done = steps.ingest_days(paths, run_plan, run_plan.days, changed_only=True, workers=workers)
        assert done.parsed == keys and done.retracted == []
        frames[workers] = {
            stage: steps.read_staged(paths, stage).sort_values(list(model.to_schema().columns)[:2])
            for stage, model in (
                (steps.PAGES, Pages),
                (steps.SIGHTINGS, Sightings),
                (steps.REJECTS, Rejects),
            )
        }
        pages = frames[workers][steps.PAGES].set_index("source_file")
        assert sorted(pages.index) == keys and pages.loc["hostile/image.png", "status"] == "rejected"
        assert plan.make(paths).change.empty
        (raw / "new.txt").write_bytes(b"x")
        assert plan.make(paths).change.new == ["new.txt"]
        (raw / "new.txt").unlink()
    for stage in frames[1]:
        pd.testing.assert_frame_equal(
            frames[1][stage].reset_index(drop=True), frames[2][stage].reset_index(drop=True)
        )
