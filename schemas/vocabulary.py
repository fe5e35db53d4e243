"""The codes the tables hold, each defined once: the parser, resolution and enrichment write them, the
contract checks them, `paperlake status` and the README explain them (tests/test_vocabulary.py)."""

from enum import StrEnum

MAX_TITLE_CHARS = 1_000  # default of ParseOptions.max_title_chars and of the contract's title check


class RejectReason(StrEnum):
    """Why a file or an entry was quarantined (rejects.reason), with what the code means."""

    description: str

    def __new__(cls, code: str, description: str) -> "RejectReason":
        member = str.__new__(cls, code)
        member._value_ = code
        member.description = description
        return member

    # the whole file
    EMPTY_FILE = "empty_file", "the file is empty or whitespace only"
    BINARY_CONTENT = "binary_content", "the file is binary: NUL or control bytes and no capture header"
    NOT_A_CAPTURE = "not_a_capture", "the file has no Daily Papers header in its first lines"
    UNREADABLE_FILE = "unreadable_file", "the file could not be read (permissions, vanished, I/O error)"
    OVERSIZED_FILE = "oversized_file", "the file is larger than max_file_bytes; it is never loaded"
    LINK_OUTSIDE_LANDING = "link_outside_landing", "a link to a file outside the landing folder; never read"
    NOT_A_REGULAR_FILE = "not_a_regular_file", "a broken link, FIFO, socket or device; never opened"
    # one entry of a page
    MISSING_ABSTRACT = "missing_abstract", "a title with no abstract after it"
    MISSING_TITLE = "missing_title", "no title line: an abstract or metadata where a title belongs"
    ORPHAN_METADATA = "orphan_metadata", "metadata lines with no title and abstract before them"
    BAD_METADATA = "bad_metadata", "metadata lines that are not authors or organisation, ·, date"
    BAD_DATE = "bad_date", "the date line of the metadata cannot be read"
    OVERSIZED_FIELD = "oversized_field", "a title or abstract over max_title_chars or max_abstract_chars"
    DUPLICATE_ON_PAGE = "duplicate_on_page", "the same abstract again on the same page (the later entry)"
    INVALID_BYTES = "invalid_bytes", "the entry holds bytes that no encoding of the file reads"
    TRUNCATED_ENTRY = "truncated_entry", "the file was cut off inside this entry, its last"


SCHEMA_PREFIX = "schema:"  # schema:<column or row>:<check>, a failed check of the Pandera contract
REASON_PATTERN = f"^(?:{'|'.join(RejectReason)}|{SCHEMA_PREFIX}[a-z_]+(?::[a-z_]+)*)$"


def describe_reason(code: str) -> str:
    """What a rejects.reason code means; a schema: code names the contract check that failed."""
    if code.startswith(SCHEMA_PREFIX):
        column, _, check = code.removeprefix(SCHEMA_PREFIX).partition(":")
        return f"failed the contract check {check}" + ("" if column == "row" else f" on {column}")
    return {str(r): r.description for r in RejectReason}.get(code, "unknown code")


class MatchRule(StrEnum):
    """Resolution's decision on a scored pair of records (matches.rule)."""

    MATCH = "match"  # merged: weight over the threshold, both have an abstract
    TITLE_ONLY_REJECTED = "title_only_rejected"  # equal titles, not merged
    ABSTRACT_MISSING = "abstract_missing"  # a record has no abstract: left unmerged
    NO_MATCH = "no_match"


class LinkKind(StrEnum):
    """What a paper's link points at (paper_links.kind)."""

    GITHUB_REPO = "github_repo"
    HF_MODEL = "hf_model"
    HF_DATASET = "hf_dataset"
    HF_SPACE = "hf_space"
    HF_PAPER = "hf_paper"
    PROJECT_PAGE = "project_page"
    PAPER = "paper"
    OTHER = "other"
