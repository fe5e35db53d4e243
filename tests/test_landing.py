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
