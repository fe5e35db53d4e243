"""The whole pipeline materialised through Dagster (temporary instance and output), then queried in DuckDB."""

import json
import shutil
from functools import partial
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from paperlake import lake, pipeline
from paperlake.config import TABLES, Paths
from paperlake.db import connect_readonly
from paperlake.parallel import map_batches
from paperlake.pipeline import landing_files, unstaged
from paperlake.warehouse import read_table
from pipelines.definitions import defs
from pipelines.run import run_pipeline
from schemas import Pages, Rejects, Sightings
from tests.conftest import SAMPLE, SEED_ENTRIES


def test_run_succeeds_with_every_check_passing(pipeline_run):
    _, instance, outcome = pipeline_run
    assert outcome.runs == {"ingest_job": True, "warehouse_job": True}
    assert outcome.failed_checks == []
    assert len(outcome.added) == 5
    runs = instance.get_runs()
    assert {r.job_name for r in runs} == {"ingest_job", "warehouse_job"}
    ingest = next(r for r in runs if r.job_name == "ingest_job")
    assert ingest.tags["dagster/asset_partition_range_start"] == "000_7cb6f7359ec6334f.txt"
    assert ingest.tags["dagster/asset_partition_range_end"] == "004_948de80309261307.txt"
    mat = instance.get_latest_materialization_event(dg.AssetKey("out_papers")).asset_materialization
    assert mat.metadata["dagster/row_count"].value == 266
    assert "dagster/column_schema" in mat.metadata
    for key in ["000_7cb6f7359ec6334f.txt", "004_948de80309261307.txt"]:
        assert instance.get_latest_materialization_event(dg.AssetKey("core_sightings")) is not None
        status = instance.get_status_by_partition(
            dg.AssetKey("core_sightings"), [key], defs.resolve_assets_def("core_sightings").partitions_def
        )
        assert str(status[key]) == "AssetPartitionStatus.MATERIALIZED"


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


def test_bad_files_are_quarantined_and_removed_files_retracted(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(SAMPLE, raw)
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


def test_landing_sensor_registers_ranges_and_sees_changes(tmp_path, sample_copy):
    from pipelines.resources import PaperlakeResource
    from pipelines.sensors import landing_sensor

    resource = PaperlakeResource(raw_dir=str(sample_copy), out_dir=str(tmp_path / "out"))
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources={"paperlake": resource})
        result = landing_sensor(ctx)
        assert result.dynamic_partitions_requests[0].partition_keys == sorted(
            p.name for p in sample_copy.iterdir()
        )
        assert len(result.run_requests) == 1  # five new files, one range run
        req = result.run_requests[0]
        assert (req.partition_key_range.start, req.partition_key_range.end) == (
            "000_7cb6f7359ec6334f.txt",
            "004_948de80309261307.txt",
        )
        instance.add_dynamic_partitions("raw_files", result.dynamic_partitions_requests[0].partition_keys)
        # nothing changed: skip, same cursor
        ctx2 = dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"paperlake": resource}
        )
        assert landing_sensor(ctx2).run_requests == []
        # one file changes (same name, new content), one is removed, one arrives
        changed = sample_copy / "002_e8016f024cf684e5.txt"
        changed.write_bytes(changed.read_bytes() + b"\n")
        (sample_copy / "003_d2538b47dc31753c.txt").unlink()
        (sample_copy / "005_new.txt").write_bytes((SAMPLE / "000_7cb6f7359ec6334f.txt").read_bytes())
        ctx3 = dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"paperlake": resource}
        )
        r3 = landing_sensor(ctx3)
        ranges = sorted((r.partition_key_range.start, r.partition_key_range.end) for r in r3.run_requests)
        assert ranges == [
            ("002_e8016f024cf684e5.txt", "002_e8016f024cf684e5.txt"),
            ("005_new.txt", "005_new.txt"),
        ]
        kinds = {type(r).__name__: r.partition_keys for r in r3.dynamic_partitions_requests}
        assert kinds == {
            "AddDynamicPartitionsRequest": ["005_new.txt"],
            "DeleteDynamicPartitionsRequest": ["003_d2538b47dc31753c.txt"],
        }


def test_missing_landing_folder_is_a_clear_error(tmp_path):
    from paperlake.config import LandingError

    with dg.instance_for_test() as instance, pytest.raises(LandingError, match=r"does not exist: .*nowhere"):
        run_pipeline(Paths(tmp_path / "nowhere", tmp_path / "out"), instance=instance, log=lambda _m: None)


def test_sensor_does_not_redo_what_make_run_ingested(pipeline_run):
    from pipelines.resources import PaperlakeResource
    from pipelines.sensors import landing_sensor

    paths, instance, _ = pipeline_run
    resource = PaperlakeResource(raw_dir=str(paths.raw_dir), out_dir=str(paths.out_dir))
    result = landing_sensor(dg.build_sensor_context(instance=instance, resources={"paperlake": resource}))
    assert result.run_requests == [] and result.dynamic_partitions_requests == []
    assert len(json.loads(result.cursor)) == 5  # the files are now known to the sensor


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


def test_batches_in_worker_processes_write_what_one_process_writes(tmp_path):
    """Seeds + hostile files in batches of 3 over 2 spawned workers vs one process: identical lake rows."""
    hostile = Path(__file__).parent / "hostile"
    raw = tmp_path / "raw"
    shutil.copytree(SAMPLE, raw)
    shutil.copytree(hostile, raw / "hostile")
    keys = sorted(landing_files(raw))
    frames = {}
    for workers in (1, 2):
        paths = Paths(raw, tmp_path / f"out{workers}")
        assert unstaged(paths, keys) == set(keys)
        with lake.open_lake(paths) as con:
            outcomes = {}
            for _, decoded in map_batches(partial(pipeline.decode_files, raw), keys, 3, workers):
                outcomes.update(pipeline.write_raw(con, decoded))
            assert sorted(outcomes) == keys and outcomes["hostile/image.png"] == "binary_content"
            for batch, tables in map_batches(partial(pipeline.parse_files, paths), keys, 3, workers):
                pipeline.write_parsed(con, batch, tables)
        frames[workers] = {
            stage: pipeline.read_staged(paths, stage).sort_values(list(model.to_schema().columns)[:2])
            for stage, model in (
                (pipeline.PAGES, Pages),
                (pipeline.SIGHTINGS, Sightings),
                (pipeline.REJECTS, Rejects),
            )
        }
        assert sorted(frames[workers][pipeline.PAGES]["source_file"]) == keys
        assert unstaged(paths, keys) == set()
        assert unstaged(paths, [*keys, "new.txt"]) == {"new.txt"}
    for stage in frames[1]:
        pd.testing.assert_frame_equal(
            frames[1][stage].reset_index(drop=True), frames[2][stage].reset_index(drop=True)
        )
    sightings = frames[2][pipeline.SIGHTINGS]
    assert (sightings["source_file"].isin(SEED_ENTRIES)).sum() == sum(SEED_ENTRIES.values())
