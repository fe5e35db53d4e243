"""Labelled cases for sightings that printed no abstract (flag no_abstract), measured by `make eval`.

Built from the bundled sample's detailed sightings (deterministic): for each of them a copy without its
abstract, with the same published date (must join that paper) or another date (must form its own
paper); and pairs of papers sharing a title and a date, each with its own abstract, plus a copy of
that title without abstract (ambiguous: must join neither). The seeds resolve as before around them.
"""

import datetime as dt

import pandas as pd

from eval.build import SAMPLE
from paperlake.ingest import process_pages, read_raw
from paperlake.resolve.memory import resolve_frame


def cases() -> tuple[pd.DataFrame, pd.Series]:
    """(sightings: the seeds plus the constructed ones, gold: sighting_id → expected paper of each
    constructed sighting, as a seed's sighting_id or 'own')."""
    pages = [read_raw(p, SAMPLE) for p in sorted(SAMPLE.iterdir())]
    seeds = process_pages(pages).sightings.reset_index(drop=True)
    detailed = seeds.dropna(subset=["published_date"]).drop_duplicates("title").reset_index(drop=True)
    rows, gold = [], {}
    for i, s in detailed.iterrows():
        bare = s.copy()
        bare["abstract"], bare["flag"], bare["page_id"] = None, "no_abstract", f"bare{i}"
        kind = ["same_date", "same_date_upper", "other_date", "ambiguous"][i % 4]
        bare["sighting_id"] = f"{kind}_{i}"
        if kind == "same_date_upper":
            bare["title"] = s["title"].upper()
        if kind == "other_date":
            bare["published_date"] = s["published_date"] - dt.timedelta(days=400)
        if kind == "ambiguous":  # another paper prints the same title on the same date
            twin = s.copy()
            twin["sighting_id"], twin["page_id"] = f"twin_{i}", f"twin{i}"
            twin["abstract"] = f"A different study that happens to share its title ({i}). " * 8
            rows.append(twin)
        rows.append(bare)
        gold[bare["sighting_id"]] = s["sighting_id"] if kind.startswith("same_date") else "own"
    return pd.concat([seeds, pd.DataFrame(rows)], ignore_index=True), pd.Series(gold)


def eval_bare() -> dict:
    sightings, gold = cases()
    res = resolve_frame(sightings).sightings.set_index("sighting_id")["paper_id"]
    right, failures = 0, []
    for sid, expected in gold.items():
        got = res[sid]
        # 'own': alone in its paper; else in the paper of the seed sighting it copies
        ok = bool((res == got).sum() == 1 if expected == "own" else got == res[expected])
        right += ok
        if not ok:
            failures.append(sid)
    kinds = gold.index.str.rsplit("_", n=1).str[0].value_counts().to_dict()
    return {"cases": len(gold), "kinds": kinds, "accuracy": round(right / len(gold), 4), "failures": failures}
