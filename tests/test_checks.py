"""The audit's checks called directly (the check function with its resource, no Dagster run) on a lake the
core wrote from a sample file: every blocking check passes on it, and each planted fault fails exactly the
checks it breaks, with the faulty row shown in their metadata."""

import shutil

import dagster as dg
import pytest

from assets.checks import SPECS, audit
from assets.metadata import md_escape
from assets.resources import PaperlakeResource
from paperlake import lake, steps
from paperlake.config import Paths
from paperlake.db import connect_readonly
from paperlake.warehouse import served_version
from pipelines.definitions import build_defs
from pipelines.run import build_resource
from tests.helpers import SAMPLE, SEED_ENTRIES, write_run

M = f"{lake.ALIAS}.main"
BLOCKING = {spec.name for spec in SPECS if spec.blocking}
SAMPLE_FILE = "001_0e521db46ed8cd94.txt"  # detailed layout: upvotes, dates, organisations


def _audit(paths: Paths, **config) -> dict[str, dg.AssetCheckResult]:
    resource = PaperlakeResource(raw_dir=str(paths.raw_dir), out_dir=str(paths.out_dir), **config)
    context = dg.build_asset_check_context()
    return {result.check_name: result for result in audit(context, paperlake=resource)}


def _one(con, sql: str, **params) -> str:
    return con.execute(sql, params).fetchone()[0]


# each fault: (check → what its examples must show)
def _duplicate_paper(con) -> dict[str, str]:
    paper = _one(con, f"SELECT min(paper_id) FROM {M}.papers")
    con.execute(f"INSERT INTO {M}.papers SELECT * FROM {M}.papers WHERE paper_id = $p", {"p": paper})
    return {"papers_contract": paper}


def _lost_paper(con) -> dict[str, str]:
    sighting = _one(con, f"SELECT min(sighting_id) FROM {M}.sightings")
    paper = _one(con, f"SELECT paper_id FROM {M}.sightings WHERE sighting_id = $s", s=sighting)
    con.execute(f"DELETE FROM {M}.papers WHERE paper_id = $p", {"p": paper})
    return {"sightings_reference_papers": f"sighting {sighting} points at no paper"}


def _lost_sighting(con) -> dict[str, str]:
    sighting = _one(con, f"SELECT max(sighting_id) FROM {M}.sightings")
    paper = _one(con, f"SELECT paper_id FROM {M}.sightings WHERE sighting_id = $s", s=sighting)
    con.execute(f"DELETE FROM {M}.sightings WHERE sighting_id = $s", {"s": sighting})
    return {"entries_conserved": SAMPLE_FILE, "sightings_reference_papers": paper}  # n_sightings is off too


def _negative_upvotes(con) -> dict[str, str]:
    sighting = _one(con, f"SELECT min(sighting_id) FROM {M}.sightings WHERE upvotes IS NOT NULL")
    con.execute(f"UPDATE {M}.sightings SET upvotes = -7 WHERE sighting_id = $s", {"s": sighting})
    return {"sightings_contract": "greater_than_or_equal_to(0)"}


# planted in two rounds (an audit costs a second): each round's faults break different checks or show
# different rows
ROUNDS = [(_duplicate_paper, _negative_upvotes), (_lost_paper, _lost_sighting)]


def test_the_audit_passes_what_the_core_wrote_and_fails_each_planted_fault(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(SAMPLE / SAMPLE_FILE, raw)
    (raw / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))  # one file of two rejected
    paths = Paths(raw, tmp_path / "out")
    write_run(paths)
    results = _audit(paths)
    assert set(results) == {spec.name for spec in SPECS}
    assert [name for name in BLOCKING if not results[name].passed] == []
    entries = SEED_ENTRIES[SAMPLE_FILE]
    assert results["sightings_contract"].metadata["rows_examined"].value == entries  # none published yet
    warned = results["reject_rate"]  # the one non-blocking check
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.metadata["file_reject_rate"].value == 0.5
    assert warned.metadata["top_reasons"].value == {"binary_content": 1}
    version, _ = steps.publish(paths, "clean")
    failing: set[str] = set()
    for faults in ROUNDS:  # on distinct rows: each round adds exactly the checks its faults break
        with lake.open_lake(paths) as con:
            shown = {fault.__name__: fault(con) for fault in faults}
        results = _audit(paths, max_reject_rate=0.6)
        failing |= {name for checks in shown.values() for name in checks}
        assert {name for name, r in results.items() if not r.passed} == failing, shown
        for fault, checks in shown.items():
            for name, text in checks.items():
                assert md_escape(text) in results[name].metadata["examples"].value, (fault, name)
    examined = results["sightings_contract"].metadata  # Pandera sees the rows changed since publishing
    assert (examined["rows_examined"].value, examined["examined"].value) == (
        1,
        f"rows changed since version {version}",
    )


@pytest.mark.dagster
def test_a_failing_blocking_check_stops_publishing(tmp_path, monkeypatch):
    """The warehouse job in process: a paper lost after enrichment fails sightings_reference_papers, so
    out_duckdb (publish), out_report and out_digest never run and readers keep the published version."""
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(SAMPLE / SAMPLE_FILE, raw)
    paths = Paths(raw, tmp_path / "out")
    write_run(paths)
    version, counts = steps.publish(paths, "before")
    new = "002_e8016f024cf684e5.txt"  # staged as the ingest step would, for the job to resolve and publish
    shutil.copy(SAMPLE / new, raw)
    with lake.open_lake(paths) as con:
        steps.write_parsed(con, [new], steps.ingest_files(paths, [new]))
    enrich = steps.publish_papers

    def lose_a_paper(*args, **kwargs):
        written = enrich(*args, **kwargs)
        with lake.open_lake(paths) as con:
            con.execute(f"DELETE FROM {M}.papers WHERE paper_id = (SELECT min(paper_id) FROM {M}.papers)")
        return written

    monkeypatch.setattr(steps, "publish_papers", lose_a_paper)
    job = build_defs(build_resource(paths)).resolve_job_def("warehouse_job")
    result = job.execute_in_process(raise_on_error=False)
    assert not result.success
    failed = {e.asset_check_key.name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {"sightings_reference_papers"}
    written = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"core_papers", "out_papers", "out_sightings"} <= written
    assert not written & {"out_duckdb", "out_report", "out_digest"}
    assert served_version(paths) == version
    with connect_readonly(paths) as con:
        assert {t: con.sql(f"SELECT count(*) FROM {t}").fetchone()[0] for t in counts} == counts
    with lake.open_lake(paths, read_only=True) as con:
        assert lake.last_version(con) == version


def test_pandera_in_batches_finds_what_one_whole_frame_finds(tmp_path):
    """The contract check validates a batch of rows at a time (memory): faults in different batches are
    all found, at their row's position in the table, exactly as validating the whole frame finds them."""
    from paperlake import audit as audit_rules
    from paperlake.frames import arrow_schema
    from schemas import CONTRACT

    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(SAMPLE / SAMPLE_FILE, raw)
    paths = Paths(raw, tmp_path / "out")
    write_run(paths)
    with lake.open_lake(paths) as con:
        for row in (3, 40):  # two faults, in different chunks below
            sighting = _one(
                con, f"SELECT sighting_id FROM {M}.sightings ORDER BY sighting_id LIMIT 1 OFFSET {row}"
            )
            con.execute(f"UPDATE {M}.sightings SET upvotes = -1 WHERE sighting_id = $s", {"s": sighting})
        rows = lake.read(con, f"{M}.sightings", arrow_schema(CONTRACT["sightings"]), "ORDER BY sighting_id")
    whole, n = audit_rules.pandera_problems([rows], CONTRACT["sightings"], 1000)
    chunked, m = audit_rules.pandera_problems(rows.to_batches(10), CONTRACT["sightings"], 1000)
    assert n == m == rows.num_rows > 40
    assert sorted(chunked["index"]) == sorted(whole["index"]) == [3, 40]
    assert (
        chunked.sort_values("index")
        .reset_index(drop=True)
        .equals(whole.sort_values("index").reset_index(drop=True))
    )
