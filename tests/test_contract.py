"""The Pandera contract quarantines bad rows; audits catch broken counts; UI previews escape markup."""

import duckdb
import pandas as pd
import pytest

from assets.metadata import md_escape, md_table, table_schema
from paperlake import lake
from paperlake.audit import conservation_problems, reference_problems
from paperlake.frames import frame
from paperlake.ingest import read_raw
from paperlake.validate import quarantine
from schemas import CONTRACT, Pages, ResolvedSightings, Sightings
from schemas.catalog import CATALOG, TABLES, written_by
from schemas.tables import contract_schema
from tests.helpers import SAMPLE, process_page


def _seed(name: str = "001_0e521db46ed8cd94.txt"):
    return process_page(read_raw(SAMPLE / name, SAMPLE))


def test_quarantine_moves_failing_rows_with_the_failed_check():
    s = _seed().sightings.copy()
    s.loc[0, "title"] = "x" * 1500  # over the title limit
    s.loc[1, "upvotes"] = -3
    s.loc[2, "published_date"] = pd.Timestamp("2030-01-01")  # after the page date
    valid, failed = quarantine(frame(s.to_dict("records"), Sightings), contract_schema(Sightings))
    assert len(valid) == len(s) - 3
    assert failed.loc[0, "reason"] == "schema:title:str_length"
    assert failed.loc[1, "reason"] == "schema:upvotes:greater_than_or_equal_to"
    assert failed.loc[2, "reason"] == "schema:row:published_not_after_page"


def _con(**frames: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, df in frames.items():
        con.register(name, df)
    return con


def test_conservation_audit_names_the_offending_file():
    t = _seed()
    pages, sightings, rejects = t.pages, t.sightings, t.rejects
    key = pages.iloc[0]["source_file"]
    assert conservation_problems(_con(pages=pages, sightings=sightings, rejects=rejects), [key]).num_rows == 0
    broken = conservation_problems(
        _con(pages=pages, sightings=sightings.iloc[1:], rejects=rejects), [key, "ghost.txt"]
    )
    assert set(broken["source_file"].to_pylist()) == {key, "ghost.txt"}
    assert f"{len(sightings) - 1} sightings rows, n_valid {len(sightings)}" in broken["problem"].to_pylist()
    lying = pages.assign(n_rejected=1)
    problems = conservation_problems(_con(pages=lying, sightings=sightings, rejects=rejects), [key])
    assert "n_entries != n_valid + n_rejected" in problems["problem"].to_pylist()


def test_reference_audit():
    s = _seed().sightings.assign(paper_id="p_1")
    papers = pd.DataFrame({"paper_id": ["p_1"], "n_sightings": [len(s)]})
    assert reference_problems(_con(sightings=s, papers=papers)).num_rows == 0
    assert len(reference_problems(_con(sightings=s.assign(paper_id="p_2"), papers=papers))) == len(s) + 1
    twice = pd.concat([s, s.assign(source_file="copy.txt")])  # same content under two names: once
    assert reference_problems(_con(sightings=twice, papers=papers)).num_rows == 0


def test_markdown_preview_escapes_titles():
    hostile = "<script>alert(1)</script> **bold** [link](http://x) | pipe # _under_"
    out = md_escape(hostile, limit=500)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "\\*\\*bold\\*\\*" in out and "\\|" in out and "\\[link\\]" in out
    table = md_table(pd.DataFrame({"title": [hostile], "topics": [["a", "b"]]}))
    assert table.count("\n") == 2 and "a, b" in table


def test_column_schema_comes_from_the_models():
    schema = table_schema(Pages)
    cols = {c.name: c for c in schema.columns}
    assert cols["page_date"].type == "DATE"
    assert cols["source_file"].constraints.unique
    assert cols["layout"].constraints.nullable and not cols["status"].constraints.nullable
    assert "Content hash" in cols["page_id"].description


def test_the_catalog_names_real_columns_and_every_table_is_written_once():
    """Each catalog entry's key, preview and count column are columns of its model; the stages that
    write tables split the catalog between them; the serving and lake names come from it."""
    for name, table in CATALOG.items():
        columns = set(table.contract.to_schema().columns)
        assert set(table.key) <= columns and set(table.preview) <= columns, name
        assert table.count_by is None or table.count_by in columns, name
        assert lake.main_table(name) == f"{lake.ALIAS}.main.{name}"
    assert sorted(written_by("resolve") + written_by("enrich")) == sorted(TABLES)
    assert list(CONTRACT) == list(TABLES) and CONTRACT["sightings"] is ResolvedSightings
    assert lake.staging_table("papers_core") == f"{lake.ALIAS}.staging.papers_core"
    with pytest.raises(KeyError):
        lake.staging_table("papers_cor")  # a misspelt working table is an error, not a new table
