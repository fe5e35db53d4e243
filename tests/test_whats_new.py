"""What changed between versions (`paperlake.diff`, `paperlake diff`) and what's new for people (the digest
and the Atom feed written by `out_digest`), on a lake grown through Dagster in four runs: three seeds;
then two more seeds, six generated captures, a seed removed and a seed edited (an abstract gains a GitHub
link); then the same landing folder again; then four more generated captures (known papers seen again,
with more upvotes). Every diff is checked against one computed independently from two `export`s."""

import datetime as dt
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import feedparser
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.generate import Corpus
from paperlake import diff, digest, lake, warehouse
from paperlake.config import Paths
from paperlake.db import connect_readonly
from pipelines.definitions import build_defs
from pipelines.run import build_resource, run_pipeline
from schemas.catalog import CATALOG, TABLES
from tests.helpers import CLI, SAMPLE

GAINS_CODE = "Towards the Law of Capacity Gap in Distilling Language Models"  # in seeds 001 and 002
LINK = "https://github.com/example/capacity-gap"


def _gain_code(path: Path, title: str) -> None:
    """Append a GitHub link to `title`'s abstract in one capture (the paper's other capture keeps it)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    at = lines.index(title) + 2  # the title, a blank line, the abstract
    assert len(lines[at]) > 100, lines[at]
    lines[at] += f" Code: {LINK}"
    path.write_text("\n".join(lines), encoding="utf-8")


def _digest_files(paths: Paths) -> dict[str, bytes]:
    return {str(p.relative_to(paths.digest_dir)): p.read_bytes() for p in paths.digest_dir.rglob("*.*")}


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("whats_new")
    raw = tmp / "raw"
    raw.mkdir()
    seeds = sorted(SAMPLE.iterdir())
    for seed in seeds[:3]:
        shutil.copy(seed, raw / seed.name)
    corpus = Corpus(40, seed=11)  # a page every 9 days: papers seen again within the growth window
    pages = [corpus.page(k) for k in range(10)]
    paths = Paths(raw, tmp / "out")
    versions, feeds, files = [], [], []

    def run() -> None:
        with dg.instance_for_test() as instance:
            outcome = run_pipeline(paths, instance=instance, log=lambda _m: None, verbose=False)
        assert outcome.success, outcome
        versions.append(diff.versions_of(paths)[1])
        feeds.append((paths.digest_dir / "feed.xml").read_bytes())
        files.append(_digest_files(paths))

    run()
    for seed in seeds[3:]:
        shutil.copy(seed, raw / seed.name)
    for name, text, _ in pages[:6]:
        (raw / name).write_text(text, encoding="utf-8")
    (raw / seeds[0].name).unlink()
    _gain_code(raw / seeds[2].name, GAINS_CODE)
    run()
    run()  # nothing new: no Dagster run at all
    with dg.instance_for_test() as instance:  # the daily schedule's job between two versions
        job = build_defs(build_resource(paths)).resolve_job_def("digest_job")
        result = job.execute_in_process(instance=instance)
    (event,) = result.get_asset_materialization_events()
    rerendered = event.materialization.metadata["files_changed"].value
    for name, text, _ in pages[6:]:
        (raw / name).write_text(text, encoding="utf-8")
    run()
    exports = {}
    for v in sorted(set(versions)):
        exports[v] = tmp / f"export-{v}"
        warehouse.export(paths, exports[v], v)
    return paths, versions, feeds, files, exports, rerendered


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _by_key(folder: Path, table: str) -> dict[tuple, dict]:
    key = CATALOG[table].key
    return {tuple(r[k] for k in key): r for r in pq.read_table(folder / f"{table}.parquet").to_pylist()}


def _independent(old: Path, new: Path, table: str) -> dict[str, dict]:
    """What `table` gained, lost and changed between two exported versions, row by row in Python (a hash
    of `diff.DERIVED` that moved with its file's bytes is no change)."""
    before, after = _by_key(old, table), _by_key(new, table)
    changed = {}
    for k in before.keys() & after.keys():
        skip = set(CATALOG[table].key) | diff.DERIVED.get(table, frozenset())
        cols = sorted(c for c in after[k] if c not in skip and not _same(before[k][c], after[k][c]))
        if cols:
            changed[k] = cols
    gone = {k: before[k] for k in before.keys() - after.keys()}
    return {"added": {k: after[k] for k in after.keys() - before.keys()}, "removed": gone, "changed": changed}


def _diff_by_key(found: diff.VersionDiff, table: str) -> dict[str, dict]:
    key = CATALOG[table].key
    rows = getattr(found, table).to_pylist()
    out: dict[str, dict] = {"added": {}, "removed": {}, "changed": {}}
    for r in rows:
        out[r["change"]][tuple(r[k] for k in key)] = sorted(r["columns"]) if r["change"] == "changed" else r
    return out


@pytest.mark.dagster
def test_diff_lists_exactly_what_two_exports_differ_by(grown):
    paths, versions, _, _, exports, _ = grown
    v1, v2, v3 = sorted(set(versions))
    assert versions == [v1, v2, v2, v3]  # the unchanged run published no version
    for since, until in ((v1, v2), (v2, v3), (v1, v3)):
        found = diff.diff(since, until, paths)
        assert (found.since, found.until) == (since, until)
        counts = {r["table"]: r for r in found.counts.to_pylist()}
        for table in TABLES:
            want = _independent(exports[since], exports[until], table)
            got = counts[table]
            assert (got["added"], got["removed"], got["changed"]) == tuple(
                len(want[c]) for c in ("added", "removed", "changed")
            ), (table, since, until)
            assert got["before"] == len(_by_key(exports[since], table))
            assert got["after"] == len(_by_key(exports[until], table))
            if table in diff.DETAILED:
                mine = _diff_by_key(found, table)
                assert mine["added"].keys() == want["added"].keys()
                assert mine["removed"].keys() == want["removed"].keys()
                assert mine["changed"] == want["changed"], (table, since, until)
    # the runs did what the fixture says: each kind of change is there to be found
    found = diff.diff(v1, v2, paths)
    first = {r["table"]: r for r in found.counts.to_pylist()}
    assert all(first["papers"][c] > 0 for c in ("added", "removed", "changed"))
    assert first["pages"]["removed"] == 1 and first["pages"]["added"] == 8
    assert diff.versions_of(paths) == (v2, v3)  # defaults: the version before the served one → the served one
    assert diff.versions_of(paths, until=v1) == (None, v1)
    everything = diff.diff(None, v1, paths)
    assert {r["change"] for r in everything.papers.to_pylist()} == {"added"}
    assert everything.papers.num_rows == len(_by_key(exports[v1], "papers"))
    with pytest.raises(LookupError, match="never published"):
        diff.diff(v1, 10**6, paths)


@pytest.mark.dagster
@pytest.mark.subprocess
def test_cli_diff_prints_the_diff_as_json_csv_and_an_80_column_table(grown):
    paths, versions, _, _, exports, _ = grown
    v1, v2, _ = sorted(set(versions))
    env = {**os.environ, "PAPERLAKE_OUT_DIR": str(paths.out_dir), "COLUMNS": "80"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)

    as_json = cli("diff", str(v1), str(v2), "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    printed = json.loads(as_json.stdout)
    assert printed == json.loads(json.dumps(diff.as_records(diff.diff(v1, v2, paths)), default=str))
    want = _independent(exports[v1], exports[v2], "papers")
    changed = {p["paper_id"]: p for p in printed["papers"]["changed"]}
    assert {(k,) for k in changed} == want["changed"].keys()
    new = _by_key(exports[v2], "papers")
    old = _by_key(exports[v1], "papers")
    for paper_id, item in changed.items():  # old → new values as the exports hold them
        for col in item["columns"]:
            assert item["new"][col] == json.loads(json.dumps(new[(paper_id,)][col], default=str))
            assert item["old"][col] == json.loads(json.dumps(old[(paper_id,)][col], default=str))
    as_csv = cli("diff", str(v1), str(v2), "-f", "csv")
    lines = as_csv.stdout.splitlines()
    assert lines[0] == "table,change,key,title,column,old,new"
    assert len(lines) - 1 == len(diff.as_rows(diff.diff(v1, v2, paths)))
    table = cli("diff", str(v1), str(v2), "-n", "3")
    assert table.returncode == 0, table.stderr
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    assert f"version {v1} → version {v2}" in table.stdout and "… and" in table.stdout
    served = cli("diff")  # the version before the served one → the served one
    assert served.returncode == 0 and f"version {v2} → version {versions[-1]}" in served.stdout
    missing = cli("diff", "999999")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "never published" in missing.stderr


@pytest.mark.dagster
def test_an_unchanged_run_writes_no_new_digest(grown):
    _, versions, feeds, files, _, rerendered = grown
    assert versions[1] == versions[2]
    # rendered again from the same versions: every file already held its bytes (a day that ended in
    # between gets its page: the day's, written once)
    assert all(name.startswith("daily/") for name in rerendered)
    assert files[2] == files[1] and feeds[2] == feeds[1]  # byte for byte: no file rewritten differently
    assert f"v{versions[3]}.md" in files[3] and f"v{versions[3]}.md" not in files[2]


@pytest.mark.dagster
def test_the_feed_parses_keeps_its_ids_and_lists_each_new_paper_once(grown):
    paths, versions, feeds, _, exports, _ = grown
    v1, v2, v3 = sorted(set(versions))
    parsed = [feedparser.parse(f) for f in feeds]
    for feed in parsed:
        assert not feed.bozo, feed.get("bozo_exception")
        ids = [e.id for e in feed.entries]
        assert len(ids) == len(set(ids)) > 0
        assert all(e.id.startswith("urn:paperlake:paper:p_") for e in feed.entries)
    with lake.open_lake(paths, read_only=True) as con:  # the whole history, not only the newest 100
        published = digest.published(con)
        everything = digest.atom(digest.feed_entries(con, published, 10_000), "", published[0][1])
    whole = feedparser.parse(everything)
    assert not whole.bozo and len({e.id for e in whole.entries}) == len(whole.entries)
    last = {e.id: (e.title, e.updated) for e in whole.entries}
    for feed in parsed:  # every entry any run's feed carried keeps its id, title and time
        assert all(last[e.id] == (e.title, e.updated) for e in feed.entries)
    first_version = {f"urn:paperlake:paper:{k[0]}" for k in _by_key(exports[v1], "papers")}
    assert first_version <= last.keys()  # each paper is listed from the version that added it
    new_in_v3 = _independent(exports[v2], exports[v3], "papers")["added"]
    assert new_in_v3
    latest = {e.id: e for e in parsed[-1].entries}
    assert {f"urn:paperlake:paper:{k[0]}" for k in new_in_v3} <= latest.keys()
    for k, row in new_in_v3.items():
        entry = latest[f"urn:paperlake:paper:{k[0]}"]
        assert entry.title == row["title"] and entry.link.endswith(f"v{v3}.html#{k[0]}")
    assert len(parsed[-1].entries) <= 100  # feed_entries


@pytest.mark.dagster
def test_the_digest_says_what_is_new_trending_and_gained_code(grown):
    paths, versions, _, files, exports, _ = grown
    v1, v2, v3 = sorted(set(versions))
    old, new = _by_key(exports[v1], "papers"), _by_key(exports[v2], "papers")
    with lake.open_lake(paths, read_only=True) as con:
        second = digest.of_diff("v2", diff.compare(con, v1, v2), digest.published(con)[0][1])
    assert {p["paper_id"] for p in second.new} == {k[0] for k in new.keys() - old.keys()}
    gained = [p for p in second.gained_code if p["title"] == GAINS_CODE]
    assert gained and gained[0]["github_repos"] == ["example/capacity-gap"]
    old, new = new, _by_key(exports[v3], "papers")
    with lake.open_lake(paths, read_only=True) as con:
        third = digest.of_diff("v3", diff.compare(con, v2, v3), digest.published(con)[0][1])
    grew = {
        k[0]: new[k]["upvotes_max"] - (old[k]["upvotes_max"] or 0)
        for k in new.keys() & old.keys()
        if (new[k]["upvotes_max"] or 0) > (old[k]["upvotes_max"] or 0)
    }
    assert grew, "the generated captures see known papers again with more upvotes"
    assert all(grew[p["paper_id"]] == p["growth"] for p in third.trending)
    assert [p["growth"] for p in third.trending] == sorted(grew.values(), reverse=True)[: digest.TOP]
    text = files[1][f"v{v2}.md"].decode()
    assert text.startswith(f"# paperlake: what's new in version {v2}")
    assert f"**new papers: {len(second.new)}**" in text and "capacity\\-gap" in text
    page = files[1][f"v{v2}.html"].decode()
    assert second.n_new == len(second.new) < digest.SHOWN  # all listed
    assert all(f'id="{p["paper_id"]}"' in page for p in second.new)
    assert "<script" not in page.lower()


@pytest.mark.dagster
@pytest.mark.subprocess
def test_search_filters_by_code_topic_and_date_and_sorts_by_growth(grown):
    paths, _, _, _, _, _ = grown
    env = {**os.environ, "PAPERLAKE_OUT_DIR": str(paths.out_dir)}
    args = ["search", "language", "models", "--topic", "evaluation", "--since", "2025-01-01"]
    args += ["--until", "2025-12-31", "--sort", "growth", "-n", "1000", "-f", "json"]
    proc = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    with connect_readonly(paths) as con:
        want = con.sql("""SELECT paper_id, upvotes_growth_per_day AS g FROM search_papers('language models')
            WHERE list_contains(topics, 'evaluation')
              AND coalesce(published_date, first_seen) BETWEEN DATE '2025-01-01' AND DATE '2025-12-31'""")
        want = dict(want.fetchall())
    assert rows and {r["paper_id"] for r in rows} == want.keys()
    assert all("evaluation" in r["topics"] and "2025-01-01" <= r["date"] <= "2025-12-31" for r in rows)
    growth = [r["upvotes_growth_per_day"] for r in rows]
    known = [g for g in growth if g is not None]
    assert len(set(known)) > 1 and known == sorted(known, reverse=True) and growth[: len(known)] == known
    coded = subprocess.run([CLI, *args, "--code"], env=env, capture_output=True, text=True, timeout=120)
    with_code = json.loads(coded.stdout)
    assert all(r["has_code"] for r in with_code)
    assert [r["paper_id"] for r in with_code] == [r["paper_id"] for r in rows if r["has_code"]]


def _paper(i: int, upvotes: int | None, topics: list[str], code: bool = False) -> dict:
    return {
        "paper_id": f"p_{i:04d}",
        "title": f"Paper {i}",
        "upvotes_max": upvotes,
        "upvotes_growth_per_day": None,
        "has_code": code,
        "github_repos": [f"o/r{i}"] if code else [],
        "topics": topics,
    }


def test_a_digest_of_many_papers_lists_the_first_and_counts_all():
    """A span with more new papers than a page lists (a first version, a busy day): the page lists the
    SHOWN most upvoted and says how many more; counts per topic cover every new paper."""
    n = digest.SHOWN + 123
    new = [_paper(i, i % 97 or None, ["vision"] if i % 3 else []) for i in range(n)]
    grew = [(_paper(n + i, 5, ["nlp"]), _paper(n + i, 5 + i, ["nlp"], code=i == 2)) for i in range(4)]
    rows = [{"change": "added", "paper_id": p["paper_id"], "old": None, "new": p, "columns": []} for p in new]
    rows += [
        {"change": "changed", "paper_id": a["paper_id"], "old": a, "new": b, "columns": []} for a, b in grew
    ]
    rows.append({"change": "removed", "paper_id": "p_gone", "old": new[0], "new": None, "columns": []})
    found = diff.VersionDiff(3, 4, pa.table({}), pa.Table.from_pylist(rows), pa.table({}))
    d = digest.of_diff("busy", found, dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    assert (d.n_new, d.changed, d.removed) == (n, 4, 1)
    want = sorted(new, key=lambda p: (-(p["upvotes_max"] or 0), p["title"], p["paper_id"]))
    assert [p["paper_id"] for p in d.new] == [p["paper_id"] for p in want[: digest.SHOWN]]
    assert d.topic_counts == {"vision": sum(1 for i in range(n) if i % 3), "(no topic)": n // 3 + 1}
    assert [p["paper_id"] for p in d.by_topic["vision"]] == [
        p["paper_id"] for p in want if p["topics"] == ["vision"]
    ][: digest.TOP]
    assert [(p["paper_id"], p["growth"], p["upvotes_before"]) for p in d.trending] == [
        (f"p_{n + i:04d}", i, 5) for i in (3, 2, 1)
    ]
    assert [p["paper_id"] for p in d.gained_code] == [f"p_{n + 2:04d}"]
    page, text = digest.html(d), digest.markdown(d)
    assert page.count('<li id="p_') == digest.SHOWN and "… and 123 more" in page
    assert f"**new papers: {n}**" in text and f"… and {n - digest.TOP * 5} more" in text


@pytest.mark.dagster
def test_the_feed_read_from_its_cache_equals_the_feed_read_from_the_versions(grown):
    paths, _, feeds, _, _, _ = grown
    with lake.open_lake(paths, read_only=True) as con:
        published = digest.published(con)
        whole = digest.feed_entries(con, published, 100)
        cached = digest._known(paths.digest_dir / digest.FEED_CACHE)
        assert cached is not None and cached.version == published[0][0] and cached.entries == whole
        before = digest.Known(published[1][0], 100, digest.feed_entries(con, published[1:], 100))
        assert digest.feed_entries(con, published, 100, before) == whole
        few = digest.Known(published[1][0], 3, before.entries[:3])  # a smaller limit: not enough
        assert digest.feed_entries(con, published, 100, few) == whole
        (_, at), (v_before, _) = published[0], published[1]
        _, newest = digest._digest(con, "the version page", v_before, published[0][0], at)
        assert newest is not None and newest.num_rows > 0  # what the newest version added, read by its page
        assert digest.feed_entries(con, published, 100, before, newest) == whole
    (paths.digest_dir / digest.FEED_CACHE).unlink()
    again = digest.write(paths)
    assert "feed.xml" not in again.changed and (paths.digest_dir / "feed.xml").read_bytes() == feeds[-1]


@pytest.mark.dagster
def test_the_first_versions_digest_read_in_place_equals_its_diff(grown):
    """The first version's digest reads the papers in place (`of_first`), not a diff of everything."""
    paths, versions, _, _, _, _ = grown
    first = min(versions)
    with lake.open_lake(paths, read_only=True) as con:
        at = dict(digest.published(con))[first]
        in_place = digest.of_first(con, "first", first, at)
        assert in_place == digest.of_diff("first", diff.compare(con, None, first), at)
    assert in_place.n_new == len(in_place.new) > 100 and in_place.by_topic


@pytest.mark.dagster
def test_a_finished_day_gets_its_page_once(grown):
    """Last in the module: it writes the day's page into the grown lake's digest folder."""
    paths, _, _, _, exports, _ = grown
    with lake.open_lake(paths, read_only=True) as con:
        (newest, at), *_ = digest.published(con)
    day = f"daily/{at:%Y-%m-%d}"
    assert digest.write(paths, now=at).days == []  # the day is not over
    assert not (paths.digest_dir / f"{day}.md").exists()
    tomorrow = at + dt.timedelta(days=1)
    first = digest.write(paths, now=tomorrow)
    (page,) = first.days
    assert sorted(first.changed) == [f"{day}.html", f"{day}.md"] and page.until == newest
    assert page.since is None and page.n_new == len(_by_key(exports[newest], "papers"))  # all made that day
    assert digest.write(paths, now=tomorrow + dt.timedelta(days=3)).days == []  # written once
