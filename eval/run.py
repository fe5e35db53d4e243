"""`make eval`: measured quality of resolution, date inference and link extraction, and resolution speed.

* Resolution on eval/resolution.csv (seeds + constructed must-merge variants and must-not-merge
  negatives): pairwise precision / recall / F1, B-cubed F1 and adjusted Rand index, for paperlake and,
  when the optional `splink` baseline is installed (`make eval` installs it), for Splink.
* Dates: eval/dates.csv (hand-labelled page and entry dates, January pages included) → accuracy.
* Links: eval/links.csv (hand-labelled abstracts → normalised links and kinds) → accuracy.
* Look-alikes: a generated corpus (bench/generate.py, default 2,000 captures, 20 % of papers with
  distinct look-alike siblings, re-titles and abstract edits of the same paper), parsed in memory →
  pairwise P/R/F1 and B-cubed over its sightings against the generator's truth, paperlake and Splink.
* No abstract: sightings without an abstract join a paper only on title key + published date with one
  candidate (eval/bare.py builds the labelled cases from the seeds) → accuracy.
* Speed: resolution of N synthetic sightings (default 600,000) → wall time (target < 30 s).

Writes eval/results.json.
"""

import argparse
import datetime as dt
import json
import multiprocessing
import random
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from sklearn.metrics import adjusted_rand_score

from bench.generate import Corpus
from eval.bare import eval_bare
from paperlake.dates import infer_entry_date, infer_page_date, parse_date_line, parse_page_date
from paperlake.enrich.links import classify_link, extract_links
from paperlake.frames import arrow_schema, frame, to_arrow
from paperlake.ingest import process_pages
from paperlake.parse import read_page
from paperlake.resolve.memory import resolve_counts, resolve_frame
from schemas import Sightings

HERE = Path(__file__).parent


def _pairs(sizes: pd.Series) -> int:
    """Pairs of records put together by clusters of these sizes: counted, never listed (a paper seen
    in 10,000 captures is 50 million pairs)."""
    n = sizes.to_numpy(dtype="int64")
    return int((n * (n - 1) // 2).sum())


def cluster_metrics(gold: pd.Series, pred: pd.Series) -> dict[str, float]:
    """Pairwise P/R/F1 (pairs of records put together), B-cubed F1, adjusted Rand index."""
    pred = pred.reindex(gold.index)
    g, p = _pairs(gold.value_counts()), _pairs(pred.value_counts())
    tp = _pairs(pd.DataFrame({"g": gold, "p": pred}).value_counts())  # together in both
    precision = tp / p if p else 1.0
    recall = tp / g if g else 1.0
    gsize, psize = gold.map(gold.value_counts()), pred.map(pred.value_counts())
    both = pd.DataFrame({"g": gold, "p": pred})
    overlap = both.groupby(["g", "p"])["g"].transform("size")
    b3p, b3r = (overlap / psize).mean(), (overlap / gsize).mean()
    return {
        "pairs_gold": g,
        "pairs_predicted": p,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall or 1), 4),
        "bcubed_f1": round(2 * b3p * b3r / (b3p + b3r), 4),
        "ari": round(adjusted_rand_score(gold, pred), 4),
        "clusters_gold": int(gold.nunique()),
        "clusters_predicted": int(pred.nunique()),
    }


def as_sightings(records: pd.DataFrame) -> pd.DataFrame:
    rows = [
        {
            "sighting_id": r.record,
            "page_id": r.record,
            "source_file": "eval",
            "position": 1,
            "line_start": 1,
            "line_end": 1,
            "title": r.title,
            "abstract": r.abstract,
            "page_date": "2025-01-01",
            "has_metadata": False,
        }
        for r in records.itertuples()
    ]
    return frame(rows, Sightings)


def paperlake_clusters(records: pd.DataFrame) -> pd.Series:
    res = resolve_frame(as_sightings(records))
    return pd.Series(res.sightings["paper_id"].values, index=res.sightings["sighting_id"].values)


def eval_resolution(with_splink: bool) -> dict:
    records = pd.read_csv(HERE / "resolution.csv", dtype=str, keep_default_na=False)
    gold = pd.Series(records["cluster"].values, index=records["record"].values)
    out: dict = {"records": len(records)}
    t = time.perf_counter()
    pred = paperlake_clusters(records)
    out["paperlake"] = {**cluster_metrics(gold, pred), "seconds": round(time.perf_counter() - t, 3)}
    wrong = records.assign(pred=records["record"].map(pred))
    out["paperlake"]["missed_variants"] = sorted(
        wrong[
            wrong["kind"].str.startswith("variant")
            & ~wrong.apply(
                lambda r: (
                    pred[r["record"]]
                    in set(
                        pred[records["record"][records["cluster"] == r["cluster"]]].drop(
                            r["record"], errors="ignore"
                        )
                    )
                ),
                axis=1,
            )
        ]["kind"].tolist()
    )
    if with_splink:
        try:
            from eval.splink_baseline import splink_clusters
        except ImportError as exc:
            out["splink"] = {"error": f"splink not installed ({exc}); `make eval` installs it"}
        else:
            t = time.perf_counter()
            sp = splink_clusters(records.rename(columns={"record": "record_id"}))
            out["splink"] = {**cluster_metrics(gold, sp), "seconds": round(time.perf_counter() - t, 3)}
    return out


CORPUS_MTIME = dt.datetime(2026, 1, 1)  # the generated pages are of 2025: their year comes from mtime


def corpus_sightings(
    files: int, lookalikes: float, seed: int = 1, batch: int = 500, bare: float = 0.0
) -> tuple[pd.DataFrame, pd.Series]:
    """A generated corpus parsed in memory: its sightings, and the true paper of each (by sighting_id)."""
    corpus = Corpus(files, lookalikes=lookalikes, seed=seed, bare_lookalikes=bare)
    frames, truth = [], {}
    for lo in range(0, files, batch):
        pages = []
        for k in range(lo, min(files, lo + batch)):
            name, text, ids = corpus.page(k)
            pages.append(read_page(text.encode(), name, CORPUS_MTIME))
            truth.update({(name, pos): pid for pos, pid in enumerate(ids, start=1)})
        frames.append(process_pages(pages).sightings)
    s = pd.concat(frames, ignore_index=True)
    gold = pd.Series(
        [truth[k] for k in zip(s["source_file"], s["position"], strict=True)], index=s["sighting_id"]
    )
    return s, gold


def splink_by_sighting(sightings: pd.DataFrame) -> pd.Series:
    """Splink's cluster of each sighting (same order), or an ImportError when it is not installed.

    Splink clusters the distinct records (equal title and abstract keys, paperlake's first tier) with the
    same fields paperlake weighs (first non-null over each record's sightings); a sighting takes its
    record's cluster, so both systems are scored on the same sightings."""
    from eval.splink_baseline import splink_clusters

    s = resolve_frame(sightings.drop(columns=["record_id", "title_key"], errors="ignore")).sightings
    s = sightings[["sighting_id", "abstract"]].merge(s, on="sighting_id")  # the input's order
    firsts = s.sort_values(["source_file", "position"]).groupby("record_id", sort=False)  # first non-null
    fields = firsts[["published_date", "authors_count", "organization"]].first().reset_index()
    records = s.drop_duplicates("record_id")[["record_id", "title", "abstract"]].merge(fields, on="record_id")
    return pd.Series(s["record_id"].map(splink_clusters(records)).to_numpy(), index=sightings.index)


def eval_corpus(files: int, lookalikes: float, with_splink: bool, bare: float = 0.0) -> dict:
    """paperlake and Splink on the same generated sightings, scored per sighting against the truth. With
    `bare` look-alikes (issue 24), also scored on the sightings of the papers that have them ("class")."""
    s, gold = corpus_sightings(files, lookalikes, bare=bare)
    out: dict = {"files": files, "lookalikes": lookalikes, "sightings": len(s), "papers": int(gold.nunique())}
    if bare:
        out["bare_lookalikes"] = bare
    family = _bare_families(files, lookalikes, bare) if bare else {}
    in_class = gold.map(family).notna().to_numpy()
    t = time.perf_counter()
    res = resolve_frame(s)
    pred = pd.Series(res.sightings["paper_id"].values, index=res.sightings["sighting_id"].values)
    out["paperlake"] = {**cluster_metrics(gold, pred), "seconds": round(time.perf_counter() - t, 2)}
    if bare:
        out["paperlake"]["class"] = cluster_metrics(gold[in_class], pred[gold.index[in_class]])
    if with_splink:
        t = time.perf_counter()
        try:
            sp = splink_by_sighting(s)
        except ImportError as exc:
            out["splink"] = {"error": f"splink not installed ({exc}); `make eval` installs it"}
            return out
        sp.index = s["sighting_id"].to_numpy()
        out["splink"] = {**cluster_metrics(gold, sp), "seconds": round(time.perf_counter() - t, 2)}
        if bare:
            out["splink"]["class"] = cluster_metrics(gold[in_class], sp[gold.index[in_class]])
    return out


def _bare_families(files: int, lookalikes: float, bare: float) -> dict[str, str]:
    """Each true paper of a bare look-alike family (the original and its siblings) → the original's id."""
    papers = Corpus(files, lookalikes=lookalikes, bare_lookalikes=bare).papers
    return {p["id"]: p["family"] for p in papers if "family" in p}


def eval_dates() -> dict:
    cases = pd.read_csv(HERE / "dates.csv", dtype=str, keep_default_na=False)
    right = 0
    failures = []
    for c in cases.itertuples():
        printed = [int(y) for y in c.printed_years.split()] if c.printed_years else []
        mtime = dt.datetime.fromisoformat(c.mtime) if c.mtime else None
        page, _ = infer_page_date(parse_page_date(c.page_line), printed, c.file_name, mtime)
        got = infer_entry_date(parse_date_line(c.date_line)[0], page) if c.date_line else page
        ok = str(got) == c.expected
        right += ok
        if not ok:
            failures.append(f"{c.page_line}/{c.date_line}: {got} != {c.expected}")
    return {"cases": len(cases), "accuracy": round(right / len(cases), 4), "failures": failures}


def eval_links() -> dict:
    cases = pd.read_csv(HERE / "links.csv", dtype=str, keep_default_na=False)
    right = 0
    failures = []
    for c in cases.itertuples():
        got = [f"{u} {classify_link(u)}" for u in extract_links(c.text)]
        want = [x.strip() for x in c.expected.split("|") if x.strip()]
        ok = got == want
        right += ok
        if not ok:
            failures.append(f"{c.text[:60]!r}: {got} != {want}")
    return {"cases": len(cases), "accuracy": round(right / len(cases), 4), "failures": failures}


def synthetic_chunks(n: int, per_paper: int = 6, seed: int = 7, papers_per_chunk: int = 10_000):
    """n sightings of n/per_paper papers, in frames of `papers_per_chunk` papers: distinct abstracts built
    from real sentences, title noise."""
    records = pd.read_csv(HERE / "resolution.csv", dtype=str, keep_default_na=False)
    sentences = [s for a in records["abstract"] for s in a.split(". ") if len(s) > 40]
    titles = records["title"].tolist()
    rng = random.Random(seed)
    rows = []
    for p in range(n // per_paper):
        title = f"{rng.choice(titles)} {p}"
        abstract = f"Study {p}: " + ". ".join(rng.sample(sentences, 6)) + "."
        for k in range(per_paper):
            t = title.upper() if k == 1 else title + "." if k == 2 else title
            rows.append(
                (
                    f"s{p}_{k}",
                    f"pg{k}_{p % 500}",
                    f"f{k}_{p % 500}.txt",
                    p // 500 + 1,
                    t,
                    abstract,
                    k * 3 + p % 5 if k else None,
                    f"2025-{1 + k:02d}-15",
                )
            )
        if (p + 1) % papers_per_chunk == 0 or p + 1 == n // per_paper:
            yield _synthetic_frame(rows)
            rows = []


def _synthetic_frame(rows: list[tuple]) -> pd.DataFrame:
    cols = ["sighting_id", "page_id", "source_file", "position", "title", "abstract", "upvotes", "page_date"]
    df = pd.DataFrame(rows, columns=cols)
    df["page_date"] = pd.to_datetime(df["page_date"])
    for col, val in {"line_start": 1, "line_end": 1, "has_metadata": True}.items():
        df[col] = val
    for col in ("authors_count", "organization", "published_date"):
        df[col] = None
    df["upvotes"] = df["upvotes"].astype("Int64")
    return df


def synthetic_sightings(n: int, per_paper: int = 6, seed: int = 7) -> pd.DataFrame:
    return pd.concat(synthetic_chunks(n, per_paper, seed), ignore_index=True)


def _write_synthetic(n: int, path: Path) -> None:
    with pq.ParquetWriter(path, arrow_schema(Sightings)) as out:
        for chunk in synthetic_chunks(n):
            out.write_table(to_arrow(chunk, Sightings))


def eval_speed(n: int) -> dict:
    """The shipped engine on n sightings staged as the lake holds them (a Parquet file with the contract's
    types, written by a child process: generating them is not resolution's cost in time or memory)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sightings.parquet"
        child = multiprocessing.get_context("fork").Process(target=_write_synthetic, args=(n, path))
        child.start()
        child.join()
        t = time.perf_counter()
        counts = resolve_counts(path)
        seconds = time.perf_counter() - t
    return {
        **counts,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def print_systems(r: dict) -> None:
    head = ("system", "precision", "recall", "F1", "B3-F1", "ARI", "clusters", "time")
    print("  {:10s} {:>9s} {:>7s} {:>7s} {:>7s} {:>7s} {:>13s} {:>7s}".format(*head))
    for name in ("paperlake", "splink"):
        m = r.get(name)
        if not m or "error" in m:
            print(f"  {name:10s} {m['error'] if m else 'skipped'}")
            continue
        print(
            f"  {name:10s} {m['precision']:9.4f} {m['recall']:7.4f} {m['f1']:7.4f} {m['bcubed_f1']:7.4f} "
            f"{m['ari']:7.4f} {m['clusters_predicted']:6d}/{m['clusters_gold']:<6d} {m['seconds']:6.2f}s"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sightings", type=int, default=600_000, help="size of the speed test (0: skip)")
    ap.add_argument("--no-splink", action="store_true")
    ap.add_argument("--corpus-files", type=int, default=2000, help="look-alike corpus captures (0: skip)")
    ap.add_argument("--lookalikes", type=float, default=0.2, help="share of papers with look-alikes")
    ap.add_argument(
        "--bare-lookalikes", type=float, default=0.2, help="share with look-alikes printed bare (issue 24)"
    )
    args = ap.parse_args()
    results = {
        "resolution": eval_resolution(not args.no_splink),
        "dates": eval_dates(),
        "links": eval_links(),
        "no_abstract": eval_bare(),
    }
    if args.corpus_files:
        results["lookalike_corpus"] = eval_corpus(args.corpus_files, args.lookalikes, not args.no_splink)
        results["bare_lookalike_corpus"] = eval_corpus(
            args.corpus_files, 0.0, not args.no_splink, bare=args.bare_lookalikes
        )
    if args.sightings:
        results["speed"] = eval_speed(args.sightings)
    (HERE / "results.json").write_text(json.dumps(results, indent=2, default=str))
    r = results["resolution"]
    print(f"resolution on {r['records']} labelled records (eval/resolution.csv)")
    print_systems(r)
    if r["paperlake"]["missed_variants"]:
        print(f"  paperlake missed variants: {r['paperlake']['missed_variants']}")
    for key in ("dates", "links", "no_abstract"):
        d = results[key]
        print(
            f"{key}: accuracy {d['accuracy']:.4f} on {d['cases']} labelled cases"
            + (f"; failures: {d['failures']}" if d["failures"] else "")
        )
    if "lookalike_corpus" in results:
        c = results["lookalike_corpus"]
        print(
            f"look-alike corpus: {c['files']:,} generated captures, {c['sightings']:,} sightings, "
            f"{c['papers']:,} true papers ({c['lookalikes']:.0%} with look-alikes), pairs over sightings"
        )
        print_systems(c)
    if "bare_lookalike_corpus" in results:
        c = results["bare_lookalike_corpus"]
        print(
            f"bare look-alike corpus (issue 24): {c['files']:,} captures, {c['sightings']:,} sightings, "
            f"{c['papers']:,} true papers ({c['bare_lookalikes']:.0%} with same-name look-alikes printed "
            "without date or authors), pairs over sightings"
        )
        print_systems(c)
        print("  the class alone (the sightings of papers with such look-alikes):")
        systems = ("paperlake", "splink")
        print_systems({k: {**c[k], **c[k]["class"]} for k in systems if "class" in c.get(k, {})})
    if "speed" in results:
        sp = results["speed"]
        print(
            f"speed: {sp['sightings']:,} sightings → {sp['papers']:,} papers in {sp['seconds']} s "
            f"(target < 30 s), peak RSS {sp['peak_rss_mb']} MB"
        )


if __name__ == "__main__":
    main()
