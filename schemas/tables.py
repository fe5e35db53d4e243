"""The table contract as Pandera models: validation, Parquet types, Dagster column schemas and
DuckDB column comments all come from here.

Each field's ``metadata["sql"]`` is its SQL/Arrow type; dates are pandas datetimes in memory and DATE on disk.
"""

import functools

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from schemas.catalog import CATALOG
from schemas.vocabulary import MAX_TITLE_CHARS, REASON_PATTERN, LinkKind, MatchRule

PAGE_STATUSES = ("ok", "partial", "rejected")
LAYOUTS = ("compact", "detailed")
PAGE_DATE_SOURCES = ("printed", "content", "filename", "mtime")
REJECT_KINDS = ("file", "entry")
SIGHTING_FLAGS = ("no_abstract", "no_metadata")

DATE = {"sql": "DATE"}
TEXT = {"sql": "VARCHAR"}
INT = {"sql": "BIGINT"}
BOOL = {"sql": "BOOLEAN"}
TEXT_LIST = {"sql": "VARCHAR[]"}
FLOAT = {"sql": "DOUBLE"}
AGREEMENTS = {  # field → its comparison levels (weights in paperlake/match.py)
    "title": ("exact", "high", "similar", "different"),
    "name": ("same", "similar", "different", "missing"),
    "abstract": ("exact", "reworded", "near", "similar", "weak", "different", "missing"),
    "published": ("same", "different", "missing"),
    "authors": ("same", "different", "missing"),
}


def _title_length(max_chars: int) -> dict[str, int]:
    return {"min_value": 1, "max_value": max_chars}


def _is_list_of_str(s: pd.Series) -> pd.Series:
    return s.map(lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v))


class _Contract(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = True


class Pages(_Contract):
    """One row per raw file seen in the landing folder, whatever became of it."""

    page_id: Series[str] = pa.Field(
        metadata=TEXT, description="Content hash (sha256, 16 hex) of the file's bytes"
    )
    source_file: Series[str] = pa.Field(
        unique=True, metadata=TEXT, description="Path of the file relative to the raw folder"
    )
    status: Series[str] = pa.Field(
        isin=PAGE_STATUSES,
        metadata=TEXT,
        description="ok: every entry valid; partial: some rejected; rejected: nothing usable",
    )
    layout: Series[str] = pa.Field(
        nullable=True,
        isin=LAYOUTS,
        metadata=TEXT,
        description="compact (title, abstract) or detailed (plus authors, date, upvotes)",
    )
    page_date: Series[pd.Timestamp] = pa.Field(
        nullable=True,
        metadata=DATE,
        description="Date in the page header, year inferred (see page_date_source)",
    )
    page_date_raw: Series[str] = pa.Field(
        nullable=True, metadata=TEXT, description="Page date as printed, e.g. 'Dec 25'"
    )
    page_date_source: Series[str] = pa.Field(
        nullable=True,
        isin=PAGE_DATE_SOURCES,
        metadata=TEXT,
        description="Evidence for the page's year: printed, filename, content, mtime",
    )
    encoding: Series[str] = pa.Field(
        nullable=True,
        metadata=TEXT,
        description="Encoding the bytes were decoded with, then damage found: 'utf-8; 2 bytes cut at end'",
    )
    n_bytes: Series[int] = pa.Field(ge=0, metadata=INT, description="File size in bytes")
    n_lines: Series[int] = pa.Field(ge=0, metadata=INT, description="Lines in the decoded file")
    n_entries: Series[int] = pa.Field(
        ge=0, metadata=INT, description="Entry candidates found = n_valid + n_rejected"
    )
    n_valid: Series[int] = pa.Field(ge=0, metadata=INT, description="Entries that became sightings")
    n_rejected: Series[int] = pa.Field(ge=0, metadata=INT, description="Entries quarantined in rejects")
    duplicate_of: Series[str] = pa.Field(
        nullable=True,
        metadata=TEXT,
        description="Earlier file (by name) with the same content; its sightings count once in papers",
    )

    @pa.dataframe_check(description="entries found = valid + rejected")
    def entries_conserved(cls, df: pd.DataFrame) -> pd.Series:
        return df["n_entries"] == df["n_valid"] + df["n_rejected"]


class Sightings(_Contract):
    """One row per valid entry on a page: a paper as seen on one capture."""

    sighting_id: Series[str] = pa.Field(
        unique=True, metadata=TEXT, description="Hash of page_id, source_file and position"
    )
    page_id: Series[str] = pa.Field(metadata=TEXT, description="Content hash of the page it was seen on")
    source_file: Series[str] = pa.Field(metadata=TEXT, description="Raw file it was seen in")
    position: Series[int] = pa.Field(ge=1, metadata=INT, description="1-based order among the page's entries")
    line_start: Series[int] = pa.Field(ge=1, metadata=INT, description="1-based line of the title")
    line_end: Series[int] = pa.Field(ge=1, metadata=INT, description="1-based last line of the entry")
    title: Series[str] = pa.Field(
        str_length=_title_length(MAX_TITLE_CHARS),
        metadata=TEXT,
        description="Title as printed (NFC, HTML entities decoded), at most max_title_chars characters",
    )
    abstract: Series[str] = pa.Field(
        nullable=True,
        str_length={"min_value": 1},
        metadata=TEXT,
        description="Abstract as printed; null when the entry printed none (flag no_abstract)",
    )
    authors_count: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=1, metadata=INT, description="'N authors' of the detailed layout"
    )
    organization: Series[str] = pa.Field(
        nullable=True, metadata=TEXT, description="Organisation display name, when shown instead of authors"
    )
    organization_id: Series[str] = pa.Field(nullable=True, metadata=TEXT, description="Organisation handle")
    published_date: Series[pd.Timestamp] = pa.Field(
        nullable=True, metadata=DATE, description="Publication date, year inferred when not printed"
    )
    published_date_raw: Series[str] = pa.Field(
        nullable=True, metadata=TEXT, description="Date line as printed"
    )
    upvotes: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=0, metadata=INT, description="Upvotes printed on this page (null when not shown)"
    )
    page_date: Series[pd.Timestamp] = pa.Field(nullable=True, metadata=DATE, description="Date of the page")
    has_metadata: Series[bool] = pa.Field(metadata=BOOL, description="Entry had the detailed metadata lines")
    flag: Series[str] = pa.Field(
        nullable=True,
        isin=SIGHTING_FLAGS,
        metadata=TEXT,
        description="Why a valid entry is incomplete: no_abstract (title and metadata, no abstract line), "
        "no_metadata (no metadata lines on a detailed page); null when complete",
    )

    @pa.dataframe_check(description="line_end >= line_start")
    def lines_ordered(cls, df: pd.DataFrame) -> pd.Series:
        return df["line_end"] >= df["line_start"]

    @pa.dataframe_check(description="published_date is not after page_date")
    def published_not_after_page(cls, df: pd.DataFrame) -> pd.Series:
        return (
            df["published_date"].isna() | df["page_date"].isna() | (df["published_date"] <= df["page_date"])
        )


class ResolvedSightings(Sightings):
    """Sightings after entity resolution: each points at its paper."""

    record_id: Series[str] = pa.Field(
        metadata=TEXT, description="Hash of the normalised title and abstract keys: equal text, one record"
    )
    paper_id: Series[str] = pa.Field(
        metadata=TEXT, description="The paper this sighting belongs to (papers.paper_id)"
    )


class Papers(_Contract):
    """One row per distinct paper, merged from its sightings (survivorship rules in README)."""

    paper_id: Series[str] = pa.Field(
        unique=True,
        str_startswith="p_",
        metadata=TEXT,
        description=(
            "Stable across re-runs: p_ + hash of the first record's title and abstract keys; a merged "
            "cluster keeps its earliest id (the others are in merged_ids)"
        ),
    )
    title: Series[str] = pa.Field(
        str_length={"min_value": 1},
        metadata=TEXT,
        description="Most frequent title variant (ties: latest page)",
    )
    abstract: Series[str] = pa.Field(metadata=TEXT, description="Longest abstract seen")
    authors_count: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=1, metadata=INT, description="From the latest sighting that shows it"
    )
    organization: Series[str] = pa.Field(
        nullable=True, metadata=TEXT, description="From the latest sighting that shows it"
    )
    published_date: Series[pd.Timestamp] = pa.Field(
        nullable=True, metadata=DATE, description="From the latest sighting that shows it"
    )
    upvotes: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=0, metadata=INT, description="Upvotes on the latest page that shows them"
    )
    upvotes_max: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=0, metadata=INT, description="Highest upvotes ever observed"
    )
    upvotes_growth_per_day: Series[float] = pa.Field(
        nullable=True,
        metadata=FLOAT,
        description="Upvotes gained per day over the 30 days before the latest observation",
    )
    first_seen: Series[pd.Timestamp] = pa.Field(
        nullable=True, metadata=DATE, description="Earliest page date"
    )
    last_seen: Series[pd.Timestamp] = pa.Field(nullable=True, metadata=DATE, description="Latest page date")
    n_sightings: Series[int] = pa.Field(ge=1, metadata=INT, description="Number of sightings merged")
    n_records: Series[int] = pa.Field(ge=1, metadata=INT, description="Distinct title+abstract texts merged")
    title_variants: Series[object] = pa.Field(
        metadata=TEXT_LIST, description="Every distinct title as printed"
    )
    github_repos: Series[object] = pa.Field(
        metadata=TEXT_LIST, description="GitHub repositories as owner/repo"
    )
    links: Series[object] = pa.Field(metadata=TEXT_LIST, description="Normalised URLs from the abstract")
    has_code: Series[bool] = pa.Field(metadata=BOOL, description="At least one GitHub repository")
    short_name: Series[str] = pa.Field(
        nullable=True, metadata=TEXT, description="Name before the title's colon, e.g. 'ReAct'"
    )
    topics: Series[object] = pa.Field(
        metadata=TEXT_LIST,
        description="Topics from the keyword taxonomy, best first (scores in paper_topics)",
    )
    keywords: Series[object] = pa.Field(
        metadata=TEXT_LIST, description="Top TF-IDF terms of title + abstract"
    )
    related: Series[object] = pa.Field(
        metadata=TEXT_LIST, description="paper_ids of the 5 most similar papers (TF-IDF cosine)"
    )
    merged_ids: Series[object] = pa.Field(
        metadata=TEXT_LIST, description="Former paper_ids of papers that were merged into this one"
    )
    abstract_words: Series[int] = pa.Field(ge=0, metadata=INT, description="Words in the abstract")

    @pa.dataframe_check(description="list columns hold lists of strings")
    def lists_of_strings(cls, df: pd.DataFrame) -> pd.Series:
        cols = ["title_variants", "github_repos", "links", "topics", "keywords", "related", "merged_ids"]
        return pd.concat([_is_list_of_str(df[c]) for c in cols], axis=1).all(axis=1)

    @pa.dataframe_check(description="upvotes <= upvotes_max and first_seen <= last_seen")
    def ordered(cls, df: pd.DataFrame) -> pd.Series:
        up = df["upvotes"].isna() | (df["upvotes"] <= df["upvotes_max"])
        seen = df["first_seen"].isna() | (df["first_seen"] <= df["last_seen"])
        return (up & seen).astype(bool)


class Rejects(_Contract):
    """One row per rejected entry or file: nothing is dropped without a trace."""

    source_file: Series[str] = pa.Field(metadata=TEXT, description="Raw file the rejected input came from")
    page_id: Series[str] = pa.Field(nullable=True, metadata=TEXT, description="Content hash of that file")
    kind: Series[str] = pa.Field(
        isin=REJECT_KINDS, metadata=TEXT, description="file: the whole file; entry: one entry of a page"
    )
    position: Series[pd.Int64Dtype] = pa.Field(
        nullable=True, ge=1, metadata=INT, description="Entry position on the page (entry rejects)"
    )
    line_start: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1, metadata=INT, description="First line")
    line_end: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1, metadata=INT, description="Last line")
    reason: Series[str] = pa.Field(
        str_matches=REASON_PATTERN,
        metadata=TEXT,
        description="Stable reason code (schemas.vocabulary.RejectReason), or schema:<column>:<check>",
    )
    detail: Series[str] = pa.Field(metadata=TEXT, description="Human explanation")
    excerpt: Series[str] = pa.Field(nullable=True, metadata=TEXT, description="Start of the rejected text")


class Matches(_Contract):
    """Every candidate pair of records that resolution scored: each field's agreement and the decision."""

    record_a: Series[str] = pa.Field(metadata=TEXT, description="First record (sightings.record_id)")
    record_b: Series[str] = pa.Field(metadata=TEXT, description="Second record")
    paper_a: Series[str] = pa.Field(metadata=TEXT, description="Paper of record_a")
    paper_b: Series[str] = pa.Field(metadata=TEXT, description="Paper of record_b")
    block: Series[str] = pa.Field(metadata=TEXT, description="Blocking key(s) that made them candidates")
    title_score: Series[float] = pa.Field(
        ge=0, le=100, metadata=FLOAT, description="rapidfuzz ratio of title keys"
    )
    abstract_score: Series[float] = pa.Field(
        ge=0, le=100, metadata=FLOAT, description="rapidfuzz ratio of abstract keys (0: an abstract missing)"
    )
    abstract_places: Series[pd.Int64Dtype] = pa.Field(
        nullable=True,
        ge=0,
        metadata=INT,
        description="Separate places the abstract keys differ, in words (null: below similar or missing)",
    )
    title_agreement: Series[str] = pa.Field(
        isin=AGREEMENTS["title"], metadata=TEXT, description="Title keys: exact, high (≥ 95), similar (≥ 85)"
    )
    name_agreement: Series[str] = pa.Field(
        isin=AGREEMENTS["name"], metadata=TEXT, description="Short names before the title's colon"
    )
    abstract_agreement: Series[str] = pa.Field(
        isin=AGREEMENTS["abstract"],
        metadata=TEXT,
        description="Abstract keys: exact (≥ 40 words), reworded (≥ 90 but in ≥ 2 places), near (≥ 97), "
        "similar (≥ 90), weak (≥ 75)",
    )
    published_agreement: Series[str] = pa.Field(
        isin=AGREEMENTS["published"], metadata=TEXT, description="Published dates (missing: not printed)"
    )
    authors_agreement: Series[str] = pa.Field(
        isin=AGREEMENTS["authors"], metadata=TEXT, description="Authors count, else organisation"
    )
    match_weight: Series[float] = pa.Field(
        metadata=FLOAT,
        description="Sum of the field weights (log2 likelihood ratios); merged at ≥ 2 with both abstracts",
    )
    rule: Series[str] = pa.Field(
        isin=[r.value for r in MatchRule],
        metadata=TEXT,
        description="Decision: match, title_only_rejected, abstract_missing (left unmerged), no_match",
    )
    merged: Series[bool] = pa.Field(metadata=BOOL, description="True when the pair was merged into one paper")


class UpvoteHistory(_Contract):
    """Each paper on each page date it was seen, with its upvotes: the trajectory no public tracker keeps."""

    paper_id: Series[str] = pa.Field(metadata=TEXT, description="The paper")
    page_date: Series[pd.Timestamp] = pa.Field(metadata=DATE, description="Date of the page")
    upvotes: Series[pd.Int64Dtype] = pa.Field(
        nullable=True,
        ge=0,
        metadata=INT,
        description="Upvotes printed (max over that day's pages); null: not shown",
    )
    source_file: Series[str] = pa.Field(
        metadata=TEXT,
        description="A file of that day that printed `upvotes` (first by name; no count: the day's first)",
    )


class PaperLinks(_Contract):
    """Every normalised link of every paper, classified."""

    paper_id: Series[str] = pa.Field(metadata=TEXT, description="The paper")
    url: Series[str] = pa.Field(metadata=TEXT, description="Normalised URL")
    kind: Series[str] = pa.Field(
        isin=[k.value for k in LinkKind], metadata=TEXT, description="What the link points at"
    )


class PaperTopics(_Contract):
    """Topics of each paper with a score in (0, 1)."""

    paper_id: Series[str] = pa.Field(metadata=TEXT, description="The paper")
    topic: Series[str] = pa.Field(
        metadata=TEXT, description="Topic of the taxonomy (paperlake/enrich/topics.py)"
    )
    score: Series[float] = pa.Field(
        gt=0, lt=1, metadata=FLOAT, description="h / (h + 2), h = weighted keyword hits"
    )


CONTRACT: dict[str, type[_Contract]] = {name: globals()[t.model] for name, t in CATALOG.items()}


@functools.cache
def contract_schema(model: type[_Contract], max_title_chars: int = MAX_TITLE_CHARS) -> pa.DataFrameSchema:
    """The model as a schema with the configured title limit (ParseOptions.max_title_chars) on sightings:
    a limit raised for the parser is raised for the contract, so a title the parser keeps is valid."""
    schema = model.to_schema()
    if not issubclass(model, Sightings) or max_title_chars == MAX_TITLE_CHARS:
        return schema
    return schema.update_column("title", checks=[pa.Check.str_length(**_title_length(max_title_chars))])
