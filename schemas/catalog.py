"""The table catalog: one entry per table readers see, in the order they are listed everywhere. Every
other list of tables (the contract, sort keys, Dagster assets, the stages' outputs, the serving file's
tables) is derived from here.

Pandera-free on purpose: the read path lists the tables without paying for pandera and pandas."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Table:
    """A published table: its Pandera model (by name in `schemas.tables`), its key (unique per row; rows
    are written, compared and served in this order), the stage that writes it, its description and how
    Dagster previews it (columns shown, the column its rows are counted by)."""

    name: str
    model: str
    key: tuple[str, ...]
    stage: str  # "resolve" (resolution writes it) or "enrich" (enrichment writes it)
    description: str
    preview: tuple[str, ...]
    count_by: str | None = None
    layer: str = "main"  # the lake schema: readers see `main` tables once published

    @property
    def contract(self) -> Any:
        """The Pandera model (imports pandera on first use)."""
        from schemas import tables

        return getattr(tables, self.model)


CATALOG = {
    t.name: t
    for t in (
        Table(
            "pages",
            "Pages",
            ("source_file",),
            "resolve",
            "`pages`: one row per raw file with its status, layout, page date and entry counts.",
            ("source_file", "status", "layout", "page_date", "n_valid", "n_rejected"),
            "status",
        ),
        Table(
            "sightings",
            "ResolvedSightings",
            ("source_file", "position"),
            "resolve",
            "`sightings`: every valid entry with its provenance (file, position, lines) and its paper_id.",
            ("source_file", "position", "line_start", "title", "paper_id"),
        ),
        Table(
            "papers",
            "Papers",
            ("paper_id",),
            "enrich",
            "`papers`: one row per distinct paper, enriched with links, GitHub repos, short name and topics.",
            ("paper_id", "short_name", "title", "n_sightings", "has_code", "topics"),
        ),
        Table(
            "rejects",
            "Rejects",
            ("source_file", "line_start", "position"),
            "resolve",
            "`rejects`: every quarantined entry or file, with a stable reason code and its lines.",
            ("source_file", "line_start", "reason", "excerpt"),
            "reason",
        ),
        Table(
            "matches",
            "Matches",
            ("record_a", "record_b"),
            "resolve",
            "`matches`: every candidate pair resolution scored, with its rule and scores.",
            ("rule", "title_score", "abstract_score", "paper_a", "paper_b"),
            "rule",
        ),
        Table(
            "upvote_history",
            "UpvoteHistory",
            ("paper_id", "page_date"),
            "resolve",
            "`upvote_history`: each paper on each page date it was seen, with its upvotes.",
            ("paper_id", "page_date", "upvotes"),
        ),
        Table(
            "paper_links",
            "PaperLinks",
            ("paper_id", "url"),
            "enrich",
            "`paper_links`: every link of every paper, classified (GitHub repo, HF model/dataset/space…).",
            ("paper_id", "kind", "url"),
            "kind",
        ),
        Table(
            "paper_topics",
            "PaperTopics",
            ("paper_id", "topic"),
            "enrich",
            "`paper_topics`: each paper's topics with a score.",
            ("paper_id", "topic", "score"),
            "topic",
        ),
    )
}
TABLES = tuple(CATALOG)  # every published table's name


def written_by(stage: str) -> tuple[str, ...]:
    """The tables a stage writes, in catalog order."""
    return tuple(name for name, t in CATALOG.items() if t.stage == stage)


@dataclass(frozen=True)
class Staged:
    """A table of the lake's `staging` schema: the writers' working state, never read by readers."""

    name: str
    stage: str  # the stage that writes it
    description: str


STAGED = {
    t.name: t
    for t in (
        Staged("pages", "ingest", "the pages rows of every ingested file, as parsed"),
        Staged("sightings", "ingest", "the valid entries of every ingested file, before resolution"),
        Staged("rejects", "ingest", "the quarantined entries and files of every ingested file"),
        Staged("files", "ingest", "per ingested file: the size, mtime and landing day it was parsed from"),
        Staged("raw_pages", "ingest", "a decoded copy of every file kept before issue 12: dropped on sight"),
        Staged("records", "resolve", "one row per record: its keys, block keys and compared fields"),
        Staged("record_abstracts", "resolve", "per record: its longest abstract and where it is printed"),
        Staged("papers_core", "resolve", "the resolved papers before enrichment (and their title keys)"),
        Staged("registry_records", "resolve", "record → paper_id: the ids that survive re-runs"),
        Staged("registry_aliases", "resolve", "ids merged away → the paper that holds them now"),
        Staged("enrich_fit", "enrich", "one row: papers fitted on, changed since, the state version"),
        Staged("enrich_vocab", "enrich", "term_id, term, idf, df of the last fit"),
        Staged("enrich_postings", "enrich", "term_id, doc, weight: each paper's TF-IDF row"),
        Staged("enrich_papers", "enrich", "paper_id, doc and the hashes enrichment compares"),
    )
}
