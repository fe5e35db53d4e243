"""The whole pipeline materialised through Dagster (temporary instance and output), then queried in DuckDB."""

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets.partitions import CHANGED_ONLY_TAG
from paperlake import landing, plan
from paperlake.config import Paths
from paperlake.db import connect_readonly
from paperlake.report import DRAWN, build_reports
from paperlake.warehouse import read_table
from pipelines.definitions import defs
from pipelines.run import run_pipeline
from schemas.catalog import TABLES
from tests.helpers import SAMPLE

pytestmark = pytest.mark.dagster


def test_run_succeeds_with_every_check_passing(pipeline_run):
    _, instance, outcome = pipeline_run
    assert outcome.runs == {"update_job": True}  # landing to published version in one run
    assert outcome.failed_checks == []
    assert len(outcome.added) == 5
    runs = instance.get_runs()
    assert [r.job_name for r in runs] == ["update_job"]
    ingest = runs[0]
    days = sorted({f.day for f in landing.manifest(SAMPLE).values()})
    assert ingest.tags["dagster/asset_partition_range_start"] == days[0]
    assert ingest.tags["dagster/asset_partition_range_end"] == days[-1]
    mat = instance.get_latest_materialization_event(dg.AssetKey("out_papers")).asset_materialization
    assert mat.metadata["dagster/row_count"].value == 266
    assert "dagster/column_schema" in mat.metadata
    status = instance.get_status_by_partition(
        dg.AssetKey("core_sightings"), days, defs.resolve_assets_def("core_sightings").partitions_def
    )
    assert {str(s) for s in status.values()} == {"AssetPartitionStatus.MATERIALIZED"}


def test_duckdb_views_hold_the_contract_counts(pipeline_run):
    paths, _, _ = pipeline_run
    with connect_readonly(paths) as con:
        counts = {t: con.sql(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        assert counts == {
            "pages": 5,
            "sightings": 283,
            "papers": 266,
            "rejects": 0,
            "matches": 0,
            "upvote_history": 283,
            "paper_links": 63,
            "paper_topics": counts["paper_topics"],
        }
        # every paper seen more than once has topics, related papers and an upvote history
        assert (
            con.sql("""SELECT count(*) FROM papers p WHERE n_sightings > 1 AND (len(topics) = 0
                          OR len(related) = 0 OR (SELECT count(*) FROM upvote_history h
                          WHERE h.paper_id = p.paper_id) < 2)""").fetchone()[0]
            == 0
        )
        kinds = dict(con.sql("SELECT kind, count(*) FROM paper_links GROUP BY ALL").fetchall())
        assert kinds["github_repo"] == con.sql("SELECT sum(len(github_repos)) FROM papers").fetchone()[0]
        assert {"hf_model", "hf_dataset", "project_page"} <= set(kinds)
        assert con.sql("SELECT sum(n_entries), sum(n_valid), sum(n_rejected) FROM pages").fetchone() == (
            283,
            283,
            0,
        )
        row = con.sql("""
            SELECT n_sightings, len(title_variants), first_seen <= last_seen FROM papers
            WHERE title = 'Characterizing Mechanisms for Factual Recall in Language Models'""").fetchone()
        assert row == (4, 1, True)
        # every sighting joins to its paper; page dates are real DATEs
        assert con.sql("SELECT count(*) FROM sightings s JOIN papers p USING (paper_id)").fetchone()[0] == 283
        assert con.sql("SELECT typeof(page_date) FROM pages LIMIT 1").fetchone()[0] == "DATE"
        layouts = dict(con.sql("SELECT layout, count(*) FROM pages GROUP BY ALL").fetchall())
        assert layouts == {"compact": 3, "detailed": 2}
        # column comments come from the Pandera descriptions
        comment = con.sql("""SELECT comment FROM duckdb_columns()
                             WHERE table_name = 'papers' AND column_name = 'github_repos'""").fetchone()[0]
        assert "owner/repo" in comment
        hits = con.sql("SELECT title FROM search_papers('hallucination') LIMIT 3").fetchall()
        assert hits and all("allucinat" in t for (t,) in hits)
        repos = con.sql("SELECT count(*) FROM papers WHERE has_code AND len(github_repos) > 0").fetchone()[0]
        assert repos == con.sql("SELECT count(*) FROM papers WHERE has_code").fetchone()[0] > 20


def _snapshot(paths: Paths) -> dict[str, pd.DataFrame]:
    return {t: read_table(t, paths) for t in TABLES}


def test_second_run_gives_identical_tables(tmp_path):
    paths = Paths(SAMPLE, tmp_path / "out")
    with dg.instance_for_test() as instance:
        first = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
        before = _snapshot(paths)
        second = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
        after = _snapshot(paths)
    assert first.success and second.success and second.added == []
    for t in TABLES:
        pd.testing.assert_frame_equal(before[t], after[t], check_like=False)
    assert len(after["sightings"]) == 283 and after["sightings"]["sighting_id"].is_unique


def test_a_run_lists_the_landing_folder_once_and_every_asset_reads_that_plan(
    tmp_path, sample_copy, monkeypatch
):
    """One listing per run (`paperlake.plan`): the run, its ingestion, resolution and audit read the plan
    the run's tag names; a file landing during the run waits for the next one."""
    listings = []
    real = landing.manifest

    def counted(folder, written=()):
        listings.append(folder)
        listed = real(folder, written)
        if len(listings) == 1:  # lands once the plan is made: not this run's
            shutil.copy(SAMPLE / "000_7cb6f7359ec6334f.txt", sample_copy / "late.txt")
        return listed

    monkeypatch.setattr(landing, "manifest", counted)
    paths = Paths(sample_copy, tmp_path / "out")
    with dg.instance_for_test() as instance:
        first = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
        assert first.success and len(listings) == 1 and "late.txt" not in first.added
        [run] = instance.get_runs()
        saved = plan.load(paths, run.tags[plan.PLAN_TAG])
        assert saved is not None and "late.txt" not in saved.now and len(saved.now) == 5
        assert _snapshot(paths)["pages"]["source_file"].tolist() == sorted(saved.now)
        second = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
    assert second.success and second.added == ["late.txt"] and len(listings) == 2


def test_bad_files_are_quarantined_and_removed_files_retracted(tmp_path, sample_copy):
    raw = sample_copy
    (raw / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    (raw / "notes.md").write_text("# notes\n\nnot a capture\n")
    cut = (SAMPLE / "001_0e521db46ed8cd94.txt").read_text(encoding="utf-8")
    (raw / "sub").mkdir()
    # cut off after the first title, saved as cp1252 by a Windows browser
    (raw / "sub" / "cut.txt").write_bytes(
        cut[: cut.index("Large language models (large LMs) are increasingly")]
        .replace("Adversarial Testing", "Adversarial Testing – Café")
        .encode("cp1252")
    )
    paths = Paths(raw, tmp_path / "out")
    with dg.instance_for_test() as instance:
        outcome = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
        assert outcome.success, outcome
        assert outcome.warned_checks == ["reject_rate"]  # 3 of 8 files rejected > 5%
        pages = read_table("pages", paths).set_index("source_file")
        rejects = read_table("rejects", paths)
        assert pages.loc["picture.png", "status"] == "rejected"
        assert pages.loc["notes.md", "status"] == "rejected"
        assert set(rejects[rejects["kind"] == "file"]["reason"]) == {"binary_content", "not_a_capture"}
        cut_page = pages.loc["sub/cut.txt"]
        assert (cut_page["n_valid"], cut_page["n_rejected"], cut_page["status"]) == (0, 1, "rejected")
        assert cut_page["encoding"] == "cp1252"
        cut_reject = rejects[rejects["source_file"] == "sub/cut.txt"].iloc[0]
        assert (cut_reject["reason"], cut_reject["line_start"]) == ("truncated_entry", 13)
        assert (pages["n_entries"] == pages["n_valid"] + pages["n_rejected"]).all()
        # remove a file: its rows leave every table on the next run
        (raw / "004_948de80309261307.txt").unlink()
        again = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
        assert again.success and again.removed == ["004_948de80309261307.txt"]
        sightings = read_table("sightings", paths)
        assert "004_948de80309261307.txt" not in set(sightings["source_file"])
        assert len(sightings) == 283 - 70
        assert "004_948de80309261307.txt" not in set(read_table("pages", paths)["source_file"])


def _set_day(path: Path, day: str) -> None:
    """Give a landing file the modification time of noon (UTC) on `day`: its landing day."""
    stamp = dt.datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
    os.utime(path, (stamp, stamp))


def test_landing_sensor_runs_only_the_days_that_changed(tmp_path, sample_copy):
    from assets.resources import PaperlakeResource
    from pipelines.sensors import landing_sensor

    names = sorted(p.name for p in sample_copy.iterdir())
    for i, name in enumerate(names):  # files 0-2 landed on one day, 3-4 on the next
        _set_day(sample_copy / name, "2024-05-01" if i < 3 else "2024-05-02")
    resource = PaperlakeResource(raw_dir=str(sample_copy), out_dir=str(tmp_path / "out"))
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources={"paperlake": resource})
        result = landing_sensor(ctx)
        assert result.dynamic_partitions_requests[0].partition_keys == ["2024-05-01", "2024-05-02"]
        assert len(result.run_requests) == 1  # five new files on two days: one run for the range
        req = result.run_requests[0]
        assert (req.partition_key_range.start, req.partition_key_range.end) == ("2024-05-01", "2024-05-02")
        assert req.tags[CHANGED_ONLY_TAG] == "true"
        sensed = plan.load(resource.paths(), req.tags[plan.PLAN_TAG])  # the listing the run will read
        assert sensed is not None and sorted(sensed.now) == names and sensed.change.new == names
        # the same change seen again asks for the same run (its run key dedupes it while it is queued)
        assert landing_sensor(ctx).run_requests[0].run_key == req.run_key
        outcome = run_pipeline(Paths(sample_copy, tmp_path / "out"), instance=instance, log=lambda _m: None)
        assert outcome.success and outcome.ingested == 5
        assert landing_sensor(ctx).run_requests == []  # the run and the sensor share one landing state
        # one file of day 2 changes, one file of day 1 is removed, a file lands on a new day
        changed = sample_copy / names[4]
        changed.write_bytes(changed.read_bytes() + b"\n")
        _set_day(changed, "2024-05-02")
        (sample_copy / names[0]).unlink()
        (sample_copy / "005_new.txt").write_bytes((SAMPLE / names[1]).read_bytes())
        _set_day(sample_copy / "005_new.txt", "2024-05-07")
        r3 = landing_sensor(ctx)
        ranges = sorted((r.partition_key_range.start, r.partition_key_range.end) for r in r3.run_requests)
        assert ranges == [("2024-05-01", "2024-05-07")]  # days in partition order: 05-01, 05-02, 05-07
        kinds = {type(r).__name__: r.partition_keys for r in r3.dynamic_partitions_requests}
        assert kinds == {"AddDynamicPartitionsRequest": ["2024-05-07"]}
        # `paperlake run` parses exactly the changed and the new file, and retracts the removed one
        again = run_pipeline(Paths(sample_copy, tmp_path / "out"), instance=instance, log=lambda _m: None)
        assert again.success and again.ingested == 2 and again.removed == [names[0]]
        ingest = instance.get_latest_materialization_event(
            dg.AssetKey("core_sightings")
        ).asset_materialization
        assert ingest.metadata["files_parsed"].value + ingest.metadata["files_retracted"].value <= 3
        pages = read_table("pages", Paths(sample_copy, tmp_path / "out"))
        assert sorted(pages["source_file"]) == sorted([*names[1:], "005_new.txt"])


def test_a_rerun_of_a_day_reparses_all_its_files(tmp_path, sample_copy):
    paths = Paths(sample_copy, tmp_path / "out")
    with dg.instance_for_test() as instance:
        assert run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False).success
        from pipelines.definitions import build_defs
        from pipelines.run import build_resource

        day = next(iter(landing.manifest(sample_copy).values())).day
        job = build_defs(build_resource(paths)).resolve_job_def("ingest_job")
        assert job.execute_in_process(instance=instance, partition_key=day).success
        mat = instance.get_latest_materialization_event(dg.AssetKey("core_sightings")).asset_materialization
        assert mat.metadata["files_parsed"].value == 5 and not mat.metadata["changed_only"].value


def test_missing_landing_folder_is_a_clear_error(tmp_path):
    from paperlake.config import LandingError

    with dg.instance_for_test() as instance, pytest.raises(LandingError, match=r"does not exist: .*nowhere"):
        run_pipeline(Paths(tmp_path / "nowhere", tmp_path / "out"), instance=instance, log=lambda _m: None)


def test_sensor_does_not_redo_what_make_run_ingested(pipeline_run):
    from assets.resources import PaperlakeResource
    from pipelines.sensors import landing_sensor

    paths, instance, _ = pipeline_run
    resource = PaperlakeResource(raw_dir=str(paths.raw_dir), out_dir=str(paths.out_dir))
    result = landing_sensor(dg.build_sensor_context(instance=instance, resources={"paperlake": resource}))
    assert result.run_requests == [] and result.dynamic_partitions_requests == []
    assert "no change in 5 files" in result.skip_reason


def test_same_content_under_two_names_counts_once_and_removed_files_can_be_retained(tmp_path, sample_copy):
    shutil.copyfile(sample_copy / "000_7cb6f7359ec6334f.txt", sample_copy / "zz_copy_of_000.txt")
    paths = Paths(sample_copy, tmp_path / "out")
    with dg.instance_for_test() as instance:
        outcome = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
        assert outcome.success, outcome
        pages = read_table("pages", paths).set_index("source_file")
        assert pages.loc["zz_copy_of_000.txt", "duplicate_of"] == "000_7cb6f7359ec6334f.txt"
        assert pages["duplicate_of"].notna().sum() == 1
        papers = read_table("papers", paths).set_index("title")
        assert len(papers) == 266 and papers["n_sightings"].sum() == 283
        assert (
            papers.loc["Characterizing Mechanisms for Factual Recall in Language Models", "n_sightings"] == 4
        )
        assert len(read_table("sightings", paths)) == 283 + 45  # every entry of both files is kept
        # retention: with retain_removed the rows of a deleted file stay
        (sample_copy / "003_d2538b47dc31753c.txt").unlink()
        kept = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False, retain_removed=True)
        assert kept.success and kept.removed == []
        assert "003_d2538b47dc31753c.txt" in set(read_table("sightings", paths)["source_file"])
        assert len(read_table("papers", paths)) == 266


def test_report_asset_draws_pngs_into_its_metadata(pipeline_run):
    paths, instance, _ = pipeline_run
    mat = instance.get_latest_materialization_event(dg.AssetKey("out_report")).asset_materialization
    for name in ("papers_per_month", "topics_over_time", "upvote_distribution", "top_papers"):
        png = paths.out_dir / "reports" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert mat.metadata[name].value.startswith(f"![{name}](data:image/png;base64,")
    assert set(mat.metadata["drawn"].value) <= {
        "papers_per_month",
        "topics_over_time",
        "upvote_distribution",
        "top_papers",
    }


def test_a_figure_is_drawn_again_only_when_its_data_changed(pipeline_run):
    """Drawing again on the same version draws nothing and rewrites no file; a figure whose record is
    stale (its data changed since) or whose file is gone is drawn again, alone."""
    paths, _, _ = pipeline_run
    out = paths.out_dir / "reports"
    pngs = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("*.png")}
    again = build_reports(paths)
    assert again.drawn == [] and sorted(again.figures) == sorted(p[:-4] for p in pngs)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("*.png")} == pngs
    drawn = json.loads((out / DRAWN).read_text())
    (out / DRAWN).write_text(json.dumps({**drawn, "upvote_distribution": "stale"}))
    (out / "top_papers.png").unlink()
    redrawn = build_reports(paths)
    assert sorted(redrawn.drawn) == ["top_papers", "upvote_distribution"]
    assert (out / "top_papers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / DRAWN).read_text()) == drawn
    (out / DRAWN).write_text("{not json")  # a damaged record: draw everything, never fail the asset
    assert len(build_reports(paths).drawn) == len(pngs) and json.loads((out / DRAWN).read_text()) == drawn
