"""One raw file → its rows in pages, sightings and rejects; the unit of work of one partition."""

import datetime as dt
import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from paperlake.frames import frame
from paperlake.parse import ParseOptions, RawPage, parse_entries, read_page
from paperlake.validate import quarantine
from schemas import Pages, Rejects, Sightings

STAGED_FIELDS = [f.name for f in fields(RawPage)]


@dataclass
class PageTables:
    pages: pd.DataFrame  # one row
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
    source = path.relative_to(raw_dir).as_posix()
    limit = (options or ParseOptions()).max_file_bytes
    try:
        st = path.stat()
        if st.st_size > limit:  # never loaded into memory: hashed in chunks
            return RawPage(
                page_id=_file_digest(path),
                source_file=source,
                n_bytes=st.st_size,
                reason="oversized_file",
                detail=f"{st.st_size} bytes > limit {limit}",
            )
        data = path.read_bytes()
        mtime = dt.datetime.fromtimestamp(st.st_mtime)
    except OSError as exc:
        return RawPage(
            page_id="",
            source_file=source,
            n_bytes=0,
            reason="unreadable_file",
            detail=f"{type(exc).__name__}: {exc.strerror or exc}",
        )
    return read_page(data, source, mtime)


def raw_page_from_record(rec: dict) -> RawPage:
    values = {k: rec.get(k) for k in STAGED_FIELDS}
    if isinstance(values.get("page_date"), dt.datetime | pd.Timestamp):
        values["page_date"] = values["page_date"].date()
    if values.get("page_date") is not None and pd.isna(values["page_date"]):
        values["page_date"] = None
    return RawPage(**values)


def _file_reject(page: RawPage) -> dict:
    return {
        "source_file": page.source_file,
        "page_id": page.page_id or None,
        "kind": "file",
        "position": None,
        "line_start": None,
        "line_end": None,
        "reason": page.reason,
        "detail": page.detail or page.reason,
        "excerpt": page.excerpt,
    }


def process_pages(pages: list[RawPage], options: ParseOptions | None = None) -> list[PageTables]:
    """Parse every page, validate all their entries against the contract in ONE Pandera call (validation
    is the costly step, so a range of files is validated together), quarantine failures, and count:
    per page, n_entries = valid + rejected."""
    parsed = [parse_entries(page, options) for page in pages]
    entries = [e for p in parsed for e in p.entries]
    sightings = frame(entries, Sightings)
    valid, failed = quarantine(sightings, Sightings)
    schema_rejects: dict[str, list[dict]] = {}
    for idx, row in failed.iterrows():
        s = sightings.loc[idx]
        schema_rejects.setdefault(s["source_file"], []).append(
            {
                "source_file": s["source_file"],
                "page_id": s["page_id"],
                "kind": "entry",
                "position": int(s["position"]),
                "line_start": int(s["line_start"]),
                "line_end": int(s["line_end"]),
                "reason": row["reason"],
                "detail": row["detail"],
                "excerpt": str(s["title"])[:200],
            }
        )
    valid_by_file = dict(tuple(valid.groupby("source_file", sort=False))) if len(valid) else {}
    out = []
    for page, p in zip(pages, parsed, strict=True):
        recs = (
            p.rejects
            + schema_rejects.get(page.source_file, [])
            + ([_file_reject(page)] if page.reason else [])
        )
        rejects = frame(recs, Rejects).sort_values(["line_start", "position"], na_position="first")
        page_valid = valid_by_file.get(page.source_file, valid.iloc[0:0]).reset_index(drop=True)
        n_rejected, n_valid = int((rejects["kind"] == "entry").sum()), len(page_valid)
        if page.reason is not None or (n_valid == 0 and n_rejected > 0):
            status = "rejected"
        else:
            status = "partial" if n_rejected else "ok"
        row = {
            "page_id": page.page_id,
            "source_file": page.source_file,
            "status": status,
            "layout": p.layout,
            "page_date": page.page_date,
            "page_date_raw": page.page_date_raw,
            "page_date_source": page.page_date_source,
            "encoding": page.encoding,
            "n_bytes": page.n_bytes,
            "n_lines": page.n_lines,
            "n_entries": n_valid + n_rejected,
            "n_valid": n_valid,
            "n_rejected": n_rejected,
        }
        out.append(PageTables(frame([row], Pages), page_valid, rejects.reset_index(drop=True)))
    return out


def process_page(page: RawPage, options: ParseOptions | None = None) -> PageTables:
    """One page through `process_pages`."""
    return process_pages([page], options)[0]
