"""One raw file → its rows in pages, sightings and rejects; the unit of work of one partition."""

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from paperlake import landing
from paperlake.entries import parse_entries
from paperlake.frames import frame
from paperlake.parse import ParseOptions, RawPage, read_page, reject_row, where
from paperlake.validate import quarantine
from schemas import Pages, Rejects, Sightings
from schemas.tables import contract_schema
from schemas.vocabulary import RejectReason


@dataclass
class PageTables:
    """The rows of one or more pages: one pages row per page, their sightings and their rejects."""

    pages: pd.DataFrame
    sightings: pd.DataFrame
    rejects: pd.DataFrame


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def read_raw(path: Path, raw_dir: Path, options: ParseOptions | None = None) -> RawPage:
    """Read a landing file; an unreadable or oversized file is a file-level reject, not an exception."""
    source = landing.key_of(path.relative_to(raw_dir))
    limit = (options or ParseOptions()).max_file_bytes
    if refused := landing.refusal(path, raw_dir):  # never opened: no page_id, no excerpt
        return RawPage(page_id="", source_file=source, n_bytes=0, reason=refused[0], detail=refused[1])
    try:
        st = path.stat()
        if st.st_size > limit:  # never loaded into memory: hashed in chunks
            detail = f"{st.st_size} bytes > limit {limit}"
            return RawPage(
                _file_digest(path), source, st.st_size, reason=RejectReason.OVERSIZED_FILE, detail=detail
            )
        data = path.read_bytes()
        mtime = dt.datetime.fromtimestamp(st.st_mtime)
    except OSError as exc:
        detail = f"{type(exc).__name__}: {exc.strerror or exc}"
        return RawPage("", source, 0, reason=RejectReason.UNREADABLE_FILE, detail=detail)
    return read_page(data, source, mtime)


def process_pages(pages: list[RawPage], options: ParseOptions | None = None) -> PageTables:
    """Parse every page and validate all their entries against the contract in ONE Pandera call; failures
    are quarantined. Returns the tables of the whole batch (one pages row per page), each built in one go:
    per-page frames cost more than the parsing. Per page, n_entries = n_valid + n_rejected."""
    parsed = [parse_entries(page, options) for page in pages]
    sightings = frame([e for p in parsed for e in p.entries], Sightings)
    limit = (options or ParseOptions()).max_title_chars
    valid, failed = quarantine(sightings, contract_schema(Sightings, limit))
    by_file = {page.source_file: page for page in pages}
    schema_rejects = [
        reject_row(
            by_file[s["source_file"]], tuple(map(int, where(s))), reason, detail, str(s["title"])[:200]
        )
        for s, reason, detail in zip(
            sightings.loc[failed.index].to_dict("records"), failed["reason"], failed["detail"], strict=True
        )
    ]
    file_rejects = [
        reject_row(page, None, page.reason, page.detail or page.reason.description, page.excerpt)
        for page in pages
        if page.reason
    ]
    rejects = frame([r for p in parsed for r in p.rejects] + schema_rejects + file_rejects, Rejects)
    order = {page.source_file: i for i, page in enumerate(pages)}
    rejects = (
        rejects.assign(_page=rejects["source_file"].map(order))
        .sort_values(["_page", "line_start", "position"], na_position="first", kind="stable")
        .drop(columns="_page")
        .reset_index(drop=True)
    )
    n_valid = valid["source_file"].value_counts()
    n_rejected = rejects.loc[rejects["kind"] == "entry", "source_file"].value_counts()
    rows = []
    for page, p in zip(pages, parsed, strict=True):
        ok, bad = int(n_valid.get(page.source_file, 0)), int(n_rejected.get(page.source_file, 0))
        unusable = page.reason is not None or (ok == 0 and bad > 0)
        status = "rejected" if unusable else "partial" if bad else "ok"
        # and the page's own columns by name (page_date, encoding, ...): frame keeps only the Pages columns
        row = {"status": status, "layout": p.layout, "n_entries": ok + bad, "n_valid": ok, "n_rejected": bad}
        rows.append(vars(page) | row)
    return PageTables(frame(rows, Pages), valid.reset_index(drop=True), rejects)
