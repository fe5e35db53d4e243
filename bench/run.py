"""`make bench`: paperlake at scale, each figure beside its baseline, measured in the same run.

1. Generate (or reuse) a deterministic corpus (bench/generate.py) of N files with ground truth.
2. Baselines: reading the bytes alone; a minimal hand-written parse loop (split paragraphs).
3. Parse throughput of paperlake's core (decode + parse + Pandera validation), one process = one core.
4. Full build through Dagster (`paperlake run` in a subprocess, fresh instance): wall time, peak RSS.
5. One new file added to the built warehouse, end to end through Dagster.
6. Resolution quality against the generator's truth (pairwise precision / recall / F1, B-cubed F1), and
   Splink beside it on the same sightings when the `eval` extra is installed. The corpus has look-alike
   papers and same-paper revisions (`--lookalikes`, default 0.2; 0 is the plain corpus of earlier runs).
7. Query latency (median of 30) on the built warehouse: top-k, full-text search, point lookup.

Writes bench/results/bench_<N>.json and .md. Usage: python bench/run.py --files 1000 (make bench).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from bench.generate import Corpus
from bench.queries import whole_process
from bench.scale import Target, duckdb_read_text, related_overlap, run_sampled, search_index, targets_table
from eval.run import cluster_metrics, splink_by_sighting
from paperlake.config import Paths
from paperlake.db import connect_readonly
from paperlake.ingest import process_pages, read_raw
from paperlake.warehouse import read_table
from schemas.catalog import CATALOG

HERE = Path(__file__).parent
CLI = str(Path(sys.executable).with_name("paperlake"))


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def read_all(files: list[Path]) -> int:
    return sum(len(f.read_bytes()) for f in files)


def minimal_parse(files: list[Path]) -> int:
    """The least a parser must do: read, decode, split into paragraphs, pair titles with abstracts."""
    n = 0
    for f in files:
        paras = f.read_bytes().decode("utf-8").split("\n\n")
        n += sum(1 for p in paras[5:] if len(p) > 200)
    return n


def paperlake_parse(files: list[Path], raw: Path, batch: int = 500) -> int:
    """decode + parse + Pandera validation of every file in one process (one core), nothing written."""
    n = 0
    for lo in range(0, len(files), batch):
        n += len(process_pages([read_raw(f, raw) for f in files[lo : lo + batch]]).sightings)
    return n


def run_cli(env: dict[str, str], *flags: str) -> tuple[float, float]:
    """Wall seconds and the peak RSS (MB) of a `paperlake run`'s whole process tree."""
    wall, peak, _ = run_sampled([CLI, "run", *flags], env)
    return wall, peak


def run_steps(home: Path, runs: int) -> list[dict]:
    """Wall seconds of the last `runs` Dagster runs and of their slowest steps, read from the instance."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    out = []
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        for run in reversed(instance.get_runs(limit=runs)):
            stats = instance.get_run_stats(run.run_id)
            steps = sorted(
                (
                    (s.step_key, round(s.end_time - s.start_time, 1))
                    for s in instance.get_run_step_stats(run.run_id)
                ),
                key=lambda kv: -kv[1],
            )
            out.append(
                {
                    "job": run.job_name,
                    "seconds": round((stats.end_time or time.time()) - stats.start_time, 1),
                    "steps": dict(steps),
                }
            )
    return out


def increments(env: dict[str, str], raw: Path, files: list[Path]) -> dict[str, float]:
    """Wall seconds of `paperlake run` after one changed file (a corrected capture: one more line) and
    after one removed file, each end to end through Dagster on the built warehouse."""
    out = {}
    changed = raw / files[len(files) // 2].name
    changed.write_bytes(changed.read_bytes() + b"\n")
    out["one_changed_file_s"] = round(run_cli(env)[0], 1)
    (raw / files[len(files) // 3].name).unlink()
    out["one_removed_file_s"] = round(run_cli(env)[0], 1)
    return out


def same_as_clean_build(paths: Paths, env: dict[str, str], work: Path) -> dict[str, list[str]]:
    """Every published table of the incrementally built warehouse against a clean full build of the same
    files (`paperlake run --full` into an empty output folder): per table, the columns that differ (empty:
    identical up to row order). A clean build has no history, so paper ids are compared as the papers'
    sets of sightings (each id replaced by its paper's smallest sighting_id) and `merged_ids` is left out."""
    from schemas.catalog import TABLES

    clean = {**env, "PAPERLAKE_OUT_DIR": str(work / "clean"), "DAGSTER_HOME": str(work / "clean-home")}
    run_cli(clean, "--full")
    fresh = Paths(paths.raw_dir, work / "clean")
    out = {}
    for side in (paths, fresh):
        s = read_table("sightings", side)
        label = s.groupby("paper_id")["sighting_id"].min()
        out[side] = {t: _canonical(t, read_table(t, side), label) for t in TABLES}
    return {t: _differing(out[paths][t], out[fresh][t]) for t in TABLES}


def _canonical(table: str, df: pd.DataFrame, label: pd.Series) -> pd.DataFrame:
    df = df.drop(columns=[c for c in ("merged_ids",) if c in df])
    for col in ("paper_id", "paper_a", "paper_b"):
        if col in df:
            df[col] = df[col].map(label)
    if "related" in df:
        df["related"] = df["related"].map(lambda ids: sorted(label.get(i, i) for i in ids))
    df = df.astype(str)
    return df.sort_values(
        [*CATALOG[table].key, *(c for c in df.columns if c not in CATALOG[table].key)]
    ).reset_index(drop=True)


def _differing(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    if len(a) != len(b):
        return [f"rows {len(a)} != {len(b)}"]
    return [c for c in a.columns if not a[c].equals(b[c])]


def sensor_path(env: dict[str, str], work: Path, new_file: Path) -> dict:
    """One new file through the sensor under `dagster-daemon`: seconds from the file landing to the new
    version being served (this includes waiting for the sensor's next tick and the run queue), and the
    wall time of the run the sensor launched."""
    from paperlake.warehouse import served_version

    paths = Paths(Path(env["PAPERLAKE_RAW_DIR"]), Path(env["PAPERLAKE_OUT_DIR"]))
    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
        cwd=HERE.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(20)  # the daemon is up and its sensors have ticked once on the unchanged folder
        before = served_version(paths)
        shutil.copy(new_file, paths.raw_dir / f"via_sensor_{new_file.name}")
        t = time.perf_counter()
        while served_version(paths) == before and time.perf_counter() - t < 600:
            time.sleep(0.2)
        latency = time.perf_counter() - t
        runs = _finished_runs(work / "home", time.time() - latency - 5)
    finally:
        os.killpg(daemon.pid, 15)
        daemon.wait()
    return {"landing_to_published_s": round(latency, 1), "runs": runs}


def _finished_runs(home: Path, since: float, wait_s: float = 120) -> list[dict]:
    """The runs the daemon started after `since`, once they have all finished (their steps after publish,
    the report, may still run when the new version is served)."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    t = time.perf_counter()
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        while time.perf_counter() - t < wait_s:
            runs = [r for r in instance.get_run_records(limit=5) if (r.start_time or 0) >= since]
            if runs and all(r.dagster_run.is_finished for r in runs):
                break
            time.sleep(0.5)
    return run_steps(home, len(runs))


def query_latency(paths: Paths) -> dict[str, float]:
    queries = {
        "top-k": "SELECT * FROM top_papers LIMIT 10",
        "full-text search": "SELECT paper_id, title FROM search_papers('reasoning') LIMIT 20",
        "point lookup": "SELECT * FROM papers WHERE paper_id = $id",  # a paper_id, as `paperlake show`
    }
    out = {}
    with connect_readonly(paths) as con:
        pid = {"id": con.sql("SELECT max(paper_id) FROM papers").fetchone()[0]}
        for name, sql in queries.items():
            args = pid if "$id" in sql else {}
            con.execute(sql, args).fetchall()
            times = []
            for _ in range(30):
                t = time.perf_counter()
                con.execute(sql, args).fetchall()
                times.append((time.perf_counter() - t) * 1000)
            out[name] = round(statistics.median(times), 2)
    return out


def cli_latency(paths: Paths, env: dict[str, str]) -> dict[str, dict[str, float]]:
    """Whole-process wall time (median of 9) of the reader commands a user types, on the built warehouse."""
    with connect_readonly(paths) as con:
        title = con.sql("SELECT title FROM papers ORDER BY n_sightings DESC, paper_id LIMIT 1").fetchone()[0]
    commands = {
        "status": ["status"],
        "query": ["query", "SELECT count(*) FROM papers", "-f", "csv"],
        "search": ["search", "language models", "--code"],
        "show": ["show", title],
        "history": ["history"],
    }
    return {name: whole_process([CLI, *argv], env=env) for name, argv in commands.items()}


def resolution_quality(paths: Paths, corpus_dir: Path, with_splink: bool) -> dict:
    """Pairwise P/R/F1 and B-cubed over the warehouse's sightings against the generator's truth, for
    paperlake and for Splink given the same sightings and fields (eval.run.splink_by_sighting)."""
    truth = pd.read_parquet(corpus_dir / "truth.parquet")
    got = read_table("sightings", paths)
    both = truth.merge(got, on=["source_file", "position"], how="inner", validate="one_to_one")
    both.index = both["source_file"] + "#" + both["position"].astype(str)
    gold = pd.Series(both["true_paper"].to_numpy(), index=both.index)
    out = {
        "sightings_matched": len(both),
        "sightings_truth": len(truth),
        "papers_truth": int(gold.nunique()),
        "paperlake": cluster_metrics(gold, both["paper_id"]),
    }
    if with_splink:
        try:
            pred, seconds = timed(splink_by_sighting, both)
        except ImportError:
            out["splink"] = "not installed (pip install -e '.[eval]')"
            return out
        out["splink"] = {**cluster_metrics(gold, pred), "seconds": round(seconds, 2)}
    return out


def issue_targets(r: dict, t_parse: float, t_min: float, t_duck: float, t_read: float) -> list[Target]:
    """Issue 23's targets (set for 10,000 files), each beside the baselines measured in the same run."""
    steps: dict[str, float] = {}
    for run in r["full_build_runs"]:
        steps.update(run["steps"])
    splink = r["resolution"].get("splink")
    search = r["search_index_s"]
    related = r["related_vs_exact_tfidf"]
    cli = {name: round(m["median_ms"] / 1000, 3) for name, m in r["cli_whole_process_ms"].items()}
    return [
        Target("full build through Dagster", r["full_build_s"], 60, "s", f"minimal loop {t_min:.2f} s"),
        Target("peak RSS of the whole process tree, full build", r["full_build_peak_rss_mb"], 3072, "MB", ""),
        Target("one new capture, end to end (`paperlake run`)", r["one_new_file_s"], 10, "s", ""),
        Target("one removed capture, end to end", r["increments"]["one_removed_file_s"], 10, "s", ""),
        Target(
            "one new capture via the sensor under `dagster-daemon`: landing to published",
            r["sensor_path"]["landing_to_published_s"],
            15,
            "s",
            "includes the wait for the sensor's tick (every 5 s)",
        ),
        Target("a run with nothing new", r["nothing_new_s"], 2, "s", ""),
        Target("`paperlake status`, whole process (median of 9)", cli["status"], 1, "s", ""),
        *(
            Target(f"`paperlake {name}`, whole process (median of 9)", cli[name], 0.5, "s", "")
            for name in ("query", "search", "show", "history")
        ),
        Target(
            "parse + validate, one core, as a multiple of the minimal loop",
            round(t_parse / t_min, 1),
            5,
            "x",
            f"paperlake {t_parse:.2f} s; minimal loop {t_min:.2f} s; DuckDB read_text (all cores) "
            f"{t_duck:.2f} s; read bytes {t_read:.2f} s",
        ),
        Target(
            "resolution and survivorship (`core_papers` step of the full build)",
            steps.get("core_papers"),
            10,
            "s",
            f"Splink {splink['seconds']} s" if isinstance(splink, dict) else f"Splink: {splink or 'not run'}",
        ),
        Target("enrichment (`out_papers` step of the full build)", steps.get("out_papers"), 15, "s", ""),
        Target(
            "`related` overlap with the exact TF-IDF top 5",
            round(100 * related["overlap"], 1),
            90,
            "%",
            f"{related['papers_sampled']} papers sampled",
            at_least=True,
        ),
        Target(
            "search index of every paper (issue 13)",
            search["paperlake"],
            10,
            "s",
            f"the fts extension's create_fts_index {search['create_fts_index']} s",
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--no-splink", action="store_true")
    ap.add_argument("--lookalikes", type=float, default=0.2, help="share of papers with look-alikes")
    ap.add_argument("--compare-full", action="store_true", help="also a clean --full build, compared")
    ap.add_argument("--popular", type=float, default=0.0, help="Zipf exponent of appearances per paper")
    args = ap.parse_args()
    kind = (f"-la{args.lookalikes:g}" if args.lookalikes else "") + (
        f"-zipf{args.popular:g}" if args.popular else ""
    )
    corpus_dir = HERE / "corpus" / f"{args.files}{kind}"
    raw = corpus_dir / "raw"
    if not raw.exists():  # last page: the one-new-file test
        corpus = Corpus(args.files + 1, lookalikes=args.lookalikes, popular=args.popular)
        corpus.write(corpus_dir)
        spare = sorted(raw.iterdir())[-1]
        shutil.move(spare, corpus_dir / spare.name)
    files = sorted(raw.iterdir())
    spare = next(p for p in corpus_dir.iterdir() if p.suffix == ".txt")
    mb = sum(f.stat().st_size for f in files) / 1e6
    r: dict = {"files": len(files), "megabytes": round(mb, 1), "cores": os.cpu_count()}

    _, t_read = timed(read_all, files)
    _, t_min = timed(minimal_parse, files)
    _, t_duck = duckdb_read_text(raw)
    n, t_parse = timed(paperlake_parse, files, raw)
    r["baseline_read_bytes_s"], r["baseline_minimal_parse_s"] = round(t_read, 2), round(t_min, 2)
    r["baseline_duckdb_read_text_s"] = round(t_duck, 2)
    r["paperlake_parse_s"], r["paperlake_sightings"] = round(t_parse, 2), n
    r["parse_mb_per_s_per_core"] = round(mb / t_parse, 2)

    work = Path(os.environ.get("BENCH_WORK", "/tmp/paperlake-bench")) / str(args.files)
    r["corpus"] = {"lookalikes": args.lookalikes, "zipf_exponent": args.popular}
    shutil.rmtree(work, ignore_errors=True)
    env = {
        **os.environ,
        "PAPERLAKE_RAW_DIR": str(work / "raw"),
        "PAPERLAKE_OUT_DIR": str(work / "out"),
        "DAGSTER_HOME": str(work / "home"),
    }
    shutil.copytree(raw, work / "raw")
    r["full_build_s"], r["full_build_peak_rss_mb"] = (round(x, 1) for x in run_cli(env))
    r["full_build_runs"] = run_steps(work / "home", 2)
    r["nothing_new_s"], _ = (round(x, 2) for x in run_cli(env))
    shutil.copy(spare, work / "raw" / spare.name)
    r["one_new_file_s"], _ = (round(x, 1) for x in run_cli(env))
    r["one_new_file_runs"] = run_steps(work / "home", 2)
    r["one_new_file_share_of_full"] = round(r["one_new_file_s"] / r["full_build_s"], 3)
    r["increments"] = increments(env, work / "raw", files)
    (HERE / "results" / f"bench_{args.files}.partial.json").write_text(json.dumps(r, indent=2))
    r["sensor_path"] = sensor_path(env, work, HERE.parent / "data" / "raw" / "002_e8016f024cf684e5.txt")
    paths = Paths(work / "raw", work / "out")
    if args.compare_full:
        r["incremental_equals_clean_full_build"] = same_as_clean_build(paths, env, work)
    r["resolution"] = resolution_quality(paths, corpus_dir, not args.no_splink)
    with connect_readonly(paths) as con:
        r["papers"] = con.sql("SELECT count(*) FROM papers").fetchone()[0]
    r["query_median_ms"] = query_latency(paths)
    r["small_query_whole_process_ms"] = whole_process(
        [CLI, "query", "SELECT count(*) FROM papers", "-f", "csv"], env=env
    )
    r["cli_whole_process_ms"] = cli_latency(paths, env)
    r["search_index_s"] = search_index(paths)
    r["related_vs_exact_tfidf"] = related_overlap(paths)
    r["ratios"] = {
        "parse_vs_minimal_loop": round(t_parse / t_min, 1),
        "parse_vs_read_bytes": round(t_parse / t_read, 1),
        "full_build_vs_minimal_loop": round(r["full_build_s"] / t_min, 1),
    }

    targets = issue_targets(r, t_parse, t_min, t_duck, t_read)
    r["targets"] = {t.what: {"value": t.value, "limit": t.limit, "met": t.met} for t in targets}
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stem = f"bench_{args.files}{'' if kind == '-la0.2' else kind}"  # the default corpus keeps its name
    (out / f"{stem}.json").write_text(json.dumps(r, indent=2))
    lines = [
        f"# paperlake bench: {r['files']} files ({kind.strip('-') or 'plain'}), {r['megabytes']} MB, "
        f"{r['paperlake_sightings']:,} sightings, "
        f"{r['papers']:,} papers",
        "",
        "| measure | paperlake | baseline |",
        "|---|---|---|",
        f"| parse (decode+parse+validate) | {t_parse:.2f} s ({r['parse_mb_per_s_per_core']} MB/s/core) | "
        f"read bytes {t_read:.2f} s; minimal loop {t_min:.2f} s |",
        f"| full build through Dagster | {r['full_build_s']} s, peak RSS {r['full_build_peak_rss_mb']} MB | "
        f"{r['ratios']['full_build_vs_minimal_loop']}x the minimal loop |",
        f"| one new file, end to end | {r['one_new_file_s']} s | {r['one_new_file_share_of_full']:.1%} of a "
        "full build; target ≤ 10 s and ≤ 5 % |",
        f"| one changed file / one removed file, end to end | {r['increments']['one_changed_file_s']} s / "
        f"{r['increments']['one_removed_file_s']} s | target ≤ 10 s |",
        f"| a run with nothing new | {r['nothing_new_s']} s | target ≤ 2 s |",
        f"| one new file via the sensor under dagster-daemon: its run / landing to published | "
        f"{' + '.join(str(x['seconds']) for x in r['sensor_path']['runs'])} s / "
        f"{r['sensor_path']['landing_to_published_s']} s | target "
        "≤ 15 s landing to published, including the wait for the sensor's next tick (every 5 s) |",
    ]
    res = r["resolution"]
    for name in ("paperlake", "splink"):
        m = res.get(name)
        lines.append(
            f"| resolution vs truth, {name}: pairwise P / R / F1, B-cubed F1 | "
            + (
                f"{m['precision']} / {m['recall']} / {m['f1']}, {m['bcubed_f1']} | "
                f"{res['sightings_matched']:,} sightings, {res['papers_truth']:,} true papers |"
                if isinstance(m, dict)
                else f"{m or 'not run'} | |"
            )
        )
    for name, ms in r["query_median_ms"].items():
        target = 20 if name == "point lookup" else 100
        lines.append(f"| query: {name} (median) | {ms} ms | target ≤ {target} ms |")
    lines += ["", *targets_table(targets)]
    for label in ("full_build_runs", "one_new_file_runs", "sensor_path"):
        lines += ["", f"{label.replace('_', ' ')}:"]
        lines += [
            f"- {run['job']}: {run['seconds']} s; slowest steps "
            + ", ".join(f"{k} {v} s" for k, v in run["steps"].items())
            for run in (r[label]["runs"] if label == "sensor_path" else r[label])
        ]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    (out / f"bench_{args.files}.partial.json").unlink(missing_ok=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
