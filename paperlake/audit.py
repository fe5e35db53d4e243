"""Whole-table invariants, as pure functions returning the offending rows (empty = holds)."""

import pandas as pd


def conservation_problems(
    pages: pd.DataFrame, sightings: pd.DataFrame, rejects: pd.DataFrame, keys: list[str]
) -> pd.DataFrame:
    """Files in = pages rows; per page n_entries = n_valid + n_rejected, and both match the tables."""
    problems: list[dict] = []
    listed = set(pages["source_file"])
    problems += [{"source_file": k, "problem": "file has no pages row"} for k in sorted(set(keys) - listed)]
    problems += [
        {"source_file": k, "problem": "pages row for a file that is not a partition"}
        for k in sorted(listed - set(keys))
    ]
    valid = sightings.groupby("source_file").size()
    rejected = rejects[rejects["kind"] == "entry"].groupby("source_file").size()
    p = pages.set_index("source_file")
    got_valid = valid.reindex(p.index, fill_value=0)
    got_rejected = rejected.reindex(p.index, fill_value=0)
    for f in p.index[p["n_entries"] != p["n_valid"] + p["n_rejected"]]:
        problems.append({"source_file": f, "problem": "n_entries != n_valid + n_rejected"})
    for f in p.index[got_valid != p["n_valid"]]:
        problems.append(
            {"source_file": f, "problem": f"{got_valid[f]} sightings rows, n_valid {p.at[f, 'n_valid']}"}
        )
    for f in p.index[got_rejected != p["n_rejected"]]:
        problems.append(
            {
                "source_file": f,
                "problem": f"{got_rejected[f]} entry rejects, n_rejected {p.at[f, 'n_rejected']}",
            }
        )
    orphans = (set(valid.index) | set(rejected.index)) - listed
    problems += [{"source_file": f, "problem": "rows for a file with no pages row"} for f in sorted(orphans)]
    return pd.DataFrame(problems, columns=["source_file", "problem"])


def reference_problems(sightings: pd.DataFrame, papers: pd.DataFrame) -> pd.DataFrame:
    """Every sighting points at an existing paper and every paper's n_sightings matches its sightings."""
    problems: list[dict] = []
    missing = sightings[~sightings["paper_id"].isin(papers["paper_id"])]
    problems += [
        {"paper_id": pid, "problem": f"sighting {sid} points at no paper"}
        for sid, pid in zip(missing["sighting_id"], missing["paper_id"], strict=True)
    ]
    distinct = sightings.drop_duplicates(["page_id", "position"])  # same content under two names: once
    counts = distinct.groupby("paper_id").size().reindex(papers["paper_id"], fill_value=0)
    bad = papers.set_index("paper_id")["n_sightings"] != counts
    problems += [
        {
            "paper_id": pid,
            "problem": f"n_sightings {papers.set_index('paper_id').at[pid, 'n_sightings']}"
            f" but {counts[pid]} sightings",
        }
        for pid in bad[bad].index
    ]
    return pd.DataFrame(problems, columns=["paper_id", "problem"])
