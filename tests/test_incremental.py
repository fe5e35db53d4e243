"""Incremental resolution equals a full resolution, step after step of landing-folder changes.

Two lakes see the same landing folder: A resolves incrementally after every step, B re-resolves
everything (full=True). After each step every main table, papers_core and the registry of A equal B's.
"""

import shutil
from pathlib import Path

import pytest

from bench.generate import Corpus
from paperlake import lake, landing, steps
from paperlake.config import Paths
from paperlake.resolve import MatchRules, pairs, scope
from tests.helpers import SAMPLE, page_text

pytestmark = pytest.mark.slow
RULES = MatchRules(max_block=4)  # small, so that adding and removing records crosses the limit
STATE = [  # every table a resolution writes (compared in a total order of all columns)
    *(f"main.{t}" for t in scope.MAIN),
    *(
        f"staging.{t}"
        for t in ("papers_core", "registry_records", "registry_aliases", "records", "record_abstracts")
    ),
]


def _ingest(paths: Paths, keys: list[str]) -> None:
    with lake.open_lake(paths) as con:
        steps.write_parsed(con, keys, steps.ingest_files(paths, keys))


def _tables(paths: Paths) -> dict[str, list[dict]]:
    with lake.open_lake(paths, read_only=True) as con:
        return {
            t: con.sql(f"SELECT * FROM {lake.ALIAS}.{t} ORDER BY ALL").to_arrow_table().to_pylist()
            for t in STATE
        }


class Lakes:
    """One landing folder, lake A (incremental) and lake B (full)."""

    def __init__(self, tmp: Path):
        self.raw = tmp / "raw"
        self.raw.mkdir()
        self.a, self.b = Paths(self.raw, tmp / "a"), Paths(self.raw, tmp / "b")

    def step(self, changed: list[str]):
        keys = sorted(landing.landing_files(self.raw))
        present = [k for k in changed if k in keys]
        for paths, full in ((self.a, False), (self.b, True)):
            if present:
                _ingest(paths, present)
            res = steps.resolve_all(paths, keys, RULES, full=full)
        self.assert_equal()
        return res

    def assert_equal(self):
        a, b = _tables(self.a), _tables(self.b)
        for table in STATE:
            assert a[table] == b[table], table

    def write(self, name: str, text: str) -> str:
        (self.raw / name).write_text(text, encoding="utf-8")
        return name


def _entry(title: str, abstract: str) -> str:
    return f"{title}\n\n{abstract}"


def _reword(text: str, every: int) -> str:
    """Every `every`-th word changed (a revised abstract; every 12th is a subset of every 6th)."""
    return " ".join("q" * len(w) if i % every == 0 else w for i, w in enumerate(text.split(" ")))


def _seed_entry() -> tuple[str, str]:
    """A real title and abstract from the bundled sample."""
    text = (SAMPLE / "000_7cb6f7359ec6334f.txt").read_text(encoding="utf-8")
    blocks = text.split("\n\n")
    i = next(k for k, b in enumerate(blocks) if len(b) > 1000)
    return blocks[i - 1], blocks[i]


def _papers_titled(paths: Paths, title: str) -> list[tuple[str, list[str]]]:
    with lake.open_lake(paths, read_only=True) as con:
        return con.execute(
            f"SELECT paper_id, merged_ids FROM {steps.PAPERS_CORE} WHERE title = $t ORDER BY 1",
            {"t": title},
        ).fetchall()


def _strip_abstracts(text: str, n: int) -> str:
    """A detailed generated page with the abstracts of its first `n` entries left out (flag no_abstract):
    an abstract is the block just before a metadata block ("… authors · date")."""
    blocks = text.split("\n\n")
    meta = [k for k in range(1, len(blocks)) if "\n·\n" in blocks[k]]
    return "\n\n".join(b for k, b in enumerate(blocks) if k + 1 not in meta[:n])


def _attached_bare(paths: Paths, source_file: str) -> int:
    """Sightings of `source_file` without an abstract that joined a paper seen with one."""
    s = f"{lake.ALIAS}.main.sightings"
    with lake.open_lake(paths, read_only=True) as con:
        return con.execute(
            f"SELECT count(*) FROM {s} b WHERE b.source_file = $f AND b.abstract IS NULL AND EXISTS "
            f"(SELECT 1 FROM {s} o WHERE o.paper_id = b.paper_id AND o.abstract IS NOT NULL)",
            {"f": source_file},
        ).fetchone()[0]


def test_incremental_equals_full_after_every_change(tmp_path):
    lakes = Lakes(tmp_path)
    corpus = Corpus(12, entries_per_file=20, sightings_per_paper=4, seed=7, lookalikes=0.4)
    pages = [corpus.page(k) for k in range(12)]
    seeds = sorted(p.name for p in SAMPLE.iterdir())[:3]
    for name in seeds:
        shutil.copy(SAMPLE / name, lakes.raw / name)
    first = [lakes.write(name, text) for name, text, _ in pages[:8]]
    lakes.step([*seeds, *first])

    # generated files with look-alikes, and two versions of one paper too far apart to merge
    title, abstract = _seed_entry()
    far, near = _reword(abstract, 6), _reword(abstract, 12)
    v1 = lakes.write("v1.txt", page_text(_entry(title, abstract), date="Mar 3"))
    v3 = lakes.write("v3.txt", page_text(_entry(title, far), date="Mar 5"))
    lakes.step([*(lakes.write(name, text) for name, text, _ in pages[8:]), v1, v3])
    apart = _papers_titled(lakes.a, title)
    assert len(apart) == 2

    # the version between them merges the two papers (the later id becomes an alias)
    v2 = lakes.write("v2.txt", page_text(_entry(title, near), date="Mar 4"))
    res = lakes.step([v2])
    merged = _papers_titled(lakes.a, title)
    assert len(merged) == 1 and set(merged[0][1]) == {p for p, _ in apart} - {merged[0][0]}
    assert res.removed_papers == set(merged[0][1])

    # a changed file, the same bytes under a second name, sightings without an abstract, and the
    # title printed with so many abstracts that its block exceeds max_block: its pairs (v1-v2-v3) go
    changed = lakes.write(first[3], pages[5][1])
    copy = lakes.write("copy_of_v1.txt", (lakes.raw / v1).read_text(encoding="utf-8"))
    detailed = next(text for _, text, _ in pages if "\n·\n" in text)
    bare = lakes.write("bare.txt", _strip_abstracts(detailed, 4))
    crowd = [_entry(title, _reword(abstract, 2 + s)) for s in range(RULES.max_block)]
    lakes.step([changed, copy, bare, lakes.write("crowd.txt", page_text(*crowd, date="Mar 6"))])
    assert len(_papers_titled(lakes.a, title)) == 3 + RULES.max_block
    assert _attached_bare(lakes.a, bare) > 0

    # the crowd leaves: v1-v2-v3 are one paper again, with their earliest id
    (lakes.raw / "crowd.txt").unlink()
    lakes.step([])
    assert [p for p, _ in _papers_titled(lakes.a, title)] == [merged[0][0]]

    # the bridging file, a generated file and a seed removed: the paper splits again
    for name in (v2, first[0], seeds[0]):
        (lakes.raw / name).unlink()
    lakes.step([])
    assert len(_papers_titled(lakes.a, title)) == 2


def test_nothing_changed_writes_nothing(tmp_path):
    """A run with no landing change makes no lake snapshot."""
    lakes = Lakes(tmp_path)
    seeds = sorted(p.name for p in SAMPLE.iterdir())[:2]
    for name in seeds:
        shutil.copy(SAMPLE / name, lakes.raw / name)
    lakes.step(seeds)
    lakes.step([lakes.write("more.txt", (SAMPLE / sorted(p.name for p in SAMPLE.iterdir())[2]).read_text())])
    with lake.open_lake(lakes.a, read_only=True) as con:
        before = lake.current_snapshot(con)
    res = steps.resolve_all(lakes.a, sorted(landing.landing_files(lakes.raw)), RULES)
    with lake.open_lake(lakes.a, read_only=True) as con:
        assert lake.current_snapshot(con) == before
    assert (res.changed_papers, res.removed_papers, res.retracted) == (set(), set(), [])
    # a file with no sightings (not a capture) changes pages and rejects only
    res = lakes.step([lakes.write("notes.md", "# notes\n\nnot a capture\n")])
    assert (res.changed_papers, res.removed_papers) == (set(), set())


def test_a_broken_incremental_step_is_caught(tmp_path, monkeypatch):
    """Without the stored neighbours of the changed records, pairs go missing: the comparison fails."""
    find = pairs.find  # pairs searched among the changed records only
    monkeypatch.setattr(
        pairs, "find", lambda con, changed, before, _, rules: find(con, changed, before, "_rec_a", rules)
    )
    lakes = Lakes(tmp_path)
    corpus = Corpus(6, entries_per_file=20, sightings_per_paper=4, seed=7, lookalikes=0.4)
    pages = [corpus.page(k) for k in range(6)]
    lakes.step([lakes.write(name, text) for name, text, _ in pages[:3]])
    with pytest.raises(AssertionError):
        lakes.step([lakes.write(name, text) for name, text, _ in pages[3:]])


def test_a_lake_from_an_older_contract_keeps_resolving(tmp_path):
    """A lake written before a contract column existed (here matches.abstract_places) resolves a new file
    incrementally: the run adds the column first instead of failing on the read of the stored pairs."""
    lakes = Lakes(tmp_path)
    seeds = sorted(p.name for p in SAMPLE.iterdir())
    for name in seeds[:2]:
        shutil.copy(SAMPLE / name, lakes.raw / name)
    _ingest(lakes.a, seeds[:2])
    steps.resolve_all(lakes.a, seeds[:2], RULES)
    matches = scope.MAIN["matches"]
    with lake.open_lake(lakes.a) as con:
        con.execute(f"ALTER TABLE {matches} DROP COLUMN abstract_places")
    shutil.copy(SAMPLE / seeds[2], lakes.raw / seeds[2])
    _ingest(lakes.a, [seeds[2]])
    res = steps.resolve_all(lakes.a, seeds[:3], RULES)
    assert res.changed_papers
    with lake.open_lake(lakes.a, read_only=True) as con:
        assert "abstract_places" in {r[0] for r in con.execute(f"DESCRIBE {matches}").fetchall()}
