"""Entity resolution v1: sightings → papers by normalised title key, with documented survivorship.

paper_id = "p_" + sha256(title_key)[:12], so it is the same on every re-run and on every machine.
Survivorship ("latest" = latest page date, then file name, then position):
title: most frequent variant, ties to the latest; abstract: the longest; authors_count, organization,
published_date, upvotes: latest non-null; upvotes_max: max; first_seen/last_seen: min/max page date;
title_variants: every distinct printed title, sorted.
"""

import pandas as pd

from paperlake.normalize import short_hash, title_key


def paper_id_for(key: str) -> str:
    return "p_" + short_hash(key, length=12)


def _chronological(sightings: pd.DataFrame) -> pd.DataFrame:
    return sightings.sort_values(["page_date", "source_file", "position"], na_position="first", kind="stable")


def assign_papers(sightings: pd.DataFrame) -> pd.DataFrame:
    """Add title_key and paper_id to every sighting."""
    keys = sightings["title"].map(title_key)
    return sightings.assign(paper_id=keys.map(paper_id_for), title_key=keys)


def survive(resolved: pd.DataFrame) -> pd.DataFrame:
    """One row per paper_id from its sightings (columns of the papers contract before enrichment).

    A page saved twice under two names is one observation: sightings are counted once per
    (page content, position)."""
    s = _chronological(resolved.drop_duplicates(["page_id", "position"])).reset_index(drop=True)
    s["_order"] = range(len(s))
    g = s.groupby("paper_id", sort=True)
    variants = s.groupby(["paper_id", "title"], sort=False).agg(n=("_order", "size"), last=("_order", "max"))
    best_title = (
        variants.reset_index().sort_values(["paper_id", "n", "last"]).groupby("paper_id").last()["title"]
    )
    longest = s.assign(_len=s["abstract"].str.len()).sort_values(["_len", "_order"])
    papers = pd.DataFrame(
        {
            "title": best_title,
            "abstract": longest.groupby("paper_id")["abstract"].last(),
            "authors_count": g["authors_count"].last(),
            "organization": g["organization"].last(),
            "published_date": g["published_date"].last(),
            "upvotes": g["upvotes"].last(),
            "upvotes_max": g["upvotes"].max(),
            "first_seen": g["page_date"].min(),
            "last_seen": g["page_date"].max(),
            "n_sightings": g.size(),
            "title_variants": g["title"].agg(lambda t: sorted(set(t))),
            "title_key": g["title_key"].first(),
        }
    )
    return papers.rename_axis("paper_id").reset_index()
