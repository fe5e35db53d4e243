"""One home for each vocabulary (schemas/vocabulary.py): what the code writes is what the contract accepts,
what the README lists and what `paperlake status` explains; the title limit is one setting."""

import os
import re
from pathlib import Path

import pandas as pd
import pytest
from pandera.errors import SchemaErrors

from paperlake.enrich import enrich, paper_links
from paperlake.frames import conform
from paperlake.ingest import process_pages, read_raw
from paperlake.parse import ParseOptions, read_page
from paperlake.resolve.memory import resolve_frame
from paperlake.validate import quarantine
from schemas import Matches, PaperLinks, Rejects, ResolvedSightings
from schemas.tables import contract_schema
from schemas.vocabulary import MAX_TITLE_CHARS, LinkKind, MatchRule, RejectReason, describe_reason
from tests.helpers import SAMPLE, SEED_ENTRIES, page_text, process_page
from tests.make_hostile import files

README = Path(__file__).resolve().parents[1] / "README.md"
ABSTRACT = "An abstract long enough to be read as an abstract. " + "Words " * 60 + "The end."
DETAILED = (
    "A Detailed Title\n\nThe abstract of a detailed entry. "
    + "More " * 60
    + "Done.\n\n  • 3 authors\n·\nOct 22, 2024 7"
)


def _allowed(model, column: str) -> set[str]:
    (check,) = model.to_schema().columns[column].checks
    return set(check.statistics["allowed_values"])


def _readme_reasons() -> dict[str, str]:
    """The README's table of reason codes: code → meaning."""
    text = README.read_text(encoding="utf-8")
    table = text.split("| reason | meaning |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    return dict(re.findall(r"^\| `(.+?)` \| (.+) \|$", table, re.M))


def test_readme_lists_exactly_the_reject_reasons():
    listed, codes = _readme_reasons(), {str(r): r.description for r in RejectReason}
    table = "\n".join(f"| `{code}` | {meaning} |" for code, meaning in codes.items())
    assert not set(listed) - set(codes), f"README lists unknown codes; the table is:\n{table}"
    assert not set(codes) - set(listed), f"README misses codes; the table is:\n{table}"
    assert listed == codes, f"README's meanings differ from RejectReason; the table is:\n{table}"


def _every_reason(tmp_path: Path) -> pd.DataFrame:
    """Rejects of inputs that, together, hit every code: the hostile folder, two hand-written pages, a
    file that cannot be read, one over max_file_bytes, a link out of the folder and a FIFO."""
    pages = [read_page(data, name) for name, data in files().items()]
    no_title = ABSTRACT + "\n\n  • 2 authors\n·\nMay 3"  # abstract and metadata, no title line
    two_names = DETAILED.replace("  • 3 authors", "  • 3 authors\nalibaba-inc Alibaba")  # bad metadata
    pages.append(
        read_page(page_text(no_title, two_names, DETAILED.replace("A Det", "Det")).encode(), "x.txt")
    )
    (tmp_path / "big.txt").write_bytes(b"x" * 100)
    pages.append(read_raw(tmp_path / "big.txt", tmp_path, ParseOptions(max_file_bytes=10)))
    pages.append(read_raw(tmp_path / "gone.txt", tmp_path))
    (tmp_path / "leak.txt").symlink_to(Path(__file__))  # outside tmp_path
    os.mkfifo(tmp_path / "pipe.txt")
    pages += [read_raw(tmp_path / name, tmp_path) for name in ("leak.txt", "pipe.txt")]
    return process_pages(pages).rejects


def test_the_code_emits_every_reason_and_only_those(tmp_path):
    rejects = _every_reason(tmp_path)
    assert set(rejects["reason"]) == set(RejectReason)
    Rejects.validate(rejects)
    assert "unknown code" not in {describe_reason(r) for r in rejects["reason"]}


def test_the_reason_check_accepts_exactly_the_codes_and_schema_codes(tmp_path):
    codes = ["schema:title:str_length", "schema:row:published_not_after_page", "made_up", "Missing_title"]
    codes += ["schema:", "missing_title:extra"]
    rows = _every_reason(tmp_path).iloc[: len(codes)].reset_index(drop=True).assign(reason=codes)
    valid, failed = quarantine(rows, contract_schema(Rejects))
    assert valid["reason"].tolist() == codes[:2]
    assert set(failed.index) == set(range(2, len(codes)))
    assert set(failed["reason"]) == {"schema:reason:str_matches"}


def test_status_words_for_schema_codes():
    assert describe_reason("schema:title:str_length") == "failed the contract check str_length on title"
    assert describe_reason("schema:row:lines_ordered") == "failed the contract check lines_ordered"
    assert describe_reason(RejectReason.MISSING_TITLE) == RejectReason.MISSING_TITLE.description


def test_match_rules_and_link_kinds_are_what_resolution_and_enrichment_write():
    hostile = [read_page(data, name) for name, data in files().items()]  # one pair merges there
    sightings = process_pages([*hostile, *(read_raw(SAMPLE / n, SAMPLE) for n in SEED_ENTRIES)]).sightings
    res = resolve_frame(sightings)
    assert _allowed(Matches, "rule") == set(MatchRule)
    assert set(res.matches["rule"]) <= set(MatchRule) and MatchRule.MATCH in set(res.matches["rule"])
    links = paper_links(enrich(res.papers))
    assert _allowed(PaperLinks, "kind") == set(LinkKind)
    assert {LinkKind.GITHUB_REPO, LinkKind.PROJECT_PAGE} <= set(links["kind"].to_pylist()) <= set(LinkKind)


def _long_title_page(chars: int) -> bytes:
    title = ("A Very Long Title " * (chars // 18 + 1))[:chars].strip()
    return page_text(f"{title}\n\n{ABSTRACT}", DETAILED).encode()


def test_a_raised_title_limit_raises_the_contracts_limit():
    """A title over the default limit is an oversized_field reject; with max_title_chars raised it is a
    sighting, valid under the contract at ingest and at the audit (never schema:title:str_length)."""
    page = read_page(_long_title_page(MAX_TITLE_CHARS + 500), "long.txt")
    default = process_page(page)
    assert default.rejects["reason"].tolist() == [RejectReason.OVERSIZED_FIELD]
    raised = ParseOptions(max_title_chars=MAX_TITLE_CHARS * 2)
    tables = process_page(page, raised)
    assert tables.rejects.empty and len(tables.sightings) == 2
    assert tables.sightings["title"].str.len().max() > MAX_TITLE_CHARS
    resolved = conform(resolve_frame(tables.sightings).sightings, ResolvedSightings)  # as the audit reads it
    contract_schema(ResolvedSightings, raised.max_title_chars).validate(resolved)  # the audit's check passes
    with pytest.raises(SchemaErrors, match="str_length"):
        contract_schema(ResolvedSightings).validate(resolved, lazy=True)
