"""Deterministic generator of realistic Daily Papers captures, with ground truth.

Both layouts; recurring papers (each paper appears on several pages of later dates) with title noise
(case, trailing period, dash swaps) and rising upvotes; abstracts built from real seed sentences so text
statistics look like the real thing; GitHub / Hugging Face links in some abstracts. Writes
`<out>/raw/NNNNN_<hash>.txt` and `<out>/truth.parquet` (source_file, position, true_paper).

`lookalikes` > 0 adds the hard cases of resolution (issue 15), each on its own random stream so the
plain corpus stays byte-identical: that share of papers gets 1-11 *distinct* look-alike siblings (another
method name before the same subtitle, the abstract with 3-20 words changed, published the same day or
another one; compact pages print no date), and the *same* paper changes between captures: re-titled
(new subtitle, or a renamed method over the identical abstract), abstract edited (a word or a sentence),
more case / punctuation / spacing noise.

`popular` > 0 makes appearances follow a Zipf law with that exponent (issue 23): a page draws its entries
with weight 1 / rank^popular (rank: a fixed random order of the papers), so a few papers appear on nearly
every page after their publication (thousands of captures, as hourly captures of trending papers do) and
most appear once or never. Its draws come from their own stream; 0 leaves every other corpus unchanged.

Usage: python bench/generate.py --files 1000 --out bench/corpus/1000 [--lookalikes 0.2] [--popular 1.1]
"""

import argparse
import bisect
import datetime as dt
import hashlib
import random
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz

ROOT = Path(__file__).resolve().parents[1]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HEADER = (
    "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n"
    "{daily}byAK and the research community\n\n"
)
EN_DASH = "\u2013"
BARE_SIMILARITIES = (0.85, 0.88, 0.91, 0.94, 0.97, 0.99)  # abstract ratios of issue 24's look-alikes


def _seed_text() -> tuple[list[str], list[str]]:
    sentences, words = [], []
    for path in sorted((ROOT / "data" / "raw").iterdir()):
        for para in path.read_text(encoding="utf-8").split("\n\n"):
            if len(para) > 300:
                sentences += [s.strip() for s in para.split(". ") if len(s) > 40]
            elif 20 < len(para) < 200 and "\n" not in para:
                words += [w for w in para.replace(":", " ").split() if w.isalpha()]
    return sentences, words


def _md(d: dt.date) -> str:
    return f"{MONTHS[d.month - 1]} {d.day}"


class Corpus:
    def __init__(
        self,
        files: int,
        entries_per_file: int = 57,
        sightings_per_paper: int = 6,
        seed: int = 1,
        lookalikes: float = 0.0,
        bare_lookalikes: float = 0.0,
        popular: float = 0.0,
    ):
        self.rng = random.Random(seed)
        self.seed, self.popular = seed, popular
        self.sentences, self.words = _seed_text()
        self.files, self.per_file = files, entries_per_file
        n_papers = max(1, files * entries_per_file // sightings_per_paper)
        self.start = dt.date(2025, 1, 1)
        papers = [self._paper(i) for i in range(n_papers)]
        self.hard = lookalikes > 0
        if self.hard:
            papers = self._hard_cases(papers, lookalikes, random.Random(seed + 10_000))
        if bare_lookalikes > 0:
            papers = self._bare_lookalikes(papers, bare_lookalikes, random.Random(seed + 20_000))
        self.papers = sorted(papers, key=lambda p: p["published"])
        self.dates = [p["published"] for p in self.papers]
        if popular > 0:  # Zipf weights over a random order of the papers, aligned with self.papers
            rank = np.random.default_rng(seed + 30_000).permutation(len(self.papers)) + 1
            self.log_weight = -popular * np.log(rank)

    def _paper(self, i: int) -> dict:
        rng = self.rng
        name = "".join(rng.choice(self.words).capitalize() for _ in range(2))[:14]
        topic = " ".join(rng.choice(self.words) for _ in range(rng.randint(4, 9)))
        abstract = " ".join(rng.sample(self.sentences, rng.randint(6, 10))) + f" We call it {name}-{i}."
        if rng.random() < 0.3:
            abstract += f" Code is available at https://github.com/{name.lower()}/{name}-{i}."
        elif rng.random() < 0.1:
            abstract += f" Models: https://hf-mirror.com/{name.lower()}/{name}-{i}-7B."
        published = self.start + dt.timedelta(days=rng.randint(-700, 330))
        return {
            "id": f"t{i}",
            "title": f"{name}: {topic.capitalize()}",
            "abstract": abstract,
            "published": published,
            "authors": rng.randint(1, 12),
            "org": rng.random() < 0.05,
            "base_upvotes": rng.randint(0, 30),
            "rate": rng.random() * 3,
            "name": name,
        }

    def _name(self, rng: random.Random, taken: set[str]) -> str:
        """A method name no other paper uses (a look-alike shares the subtitle, never the name)."""
        while True:
            name = "".join(rng.choice(self.words).capitalize() for _ in range(2))[:14]
            name = name.upper()[:6] if rng.random() < 0.3 else name
            if name.lower() not in taken:
                taken.add(name.lower())
                return name

    def _reworded(self, rng: random.Random, text: str, n: int) -> str:
        words = text.split(" ")
        for i in rng.sample(range(len(words) - 4), min(n, len(words) - 4)):
            words[i] = rng.choice(self.words).lower()
        return " ".join(words)

    def _hard_cases(self, papers: list[dict], share: float, rng: random.Random) -> list[dict]:
        """Look-alike siblings (distinct papers) and per-paper revisions (the same paper changing)."""
        out, taken = list(papers), {p["name"].lower() for p in papers}
        for base in papers:
            if rng.random() >= share:
                continue
            topic = base["title"].split(": ", 1)[1]
            for _ in range(min(11, 1 + int(rng.expovariate(0.5)))):
                name, i = self._name(rng, taken), len(out)
                abstract = self._reworded(rng, base["abstract"], rng.randint(3, 20))
                same_day = rng.random() < 0.4
                published = base["published"] + dt.timedelta(days=0 if same_day else rng.randint(1, 90))
                out.append(
                    {
                        **base,
                        "id": f"t{i}",
                        "title": f"{name}: {topic}",
                        "abstract": abstract.replace(f"We call it {base['name']}", f"We call it {name}"),
                        "published": published,
                        "authors": rng.randint(1, 12),
                        "org": rng.random() < 0.05,
                        "name": name,
                    }
                )
        for p in out:
            change, topic = rng.random(), p["title"].split(": ", 1)[1]
            revised = p["published"] + dt.timedelta(days=rng.randint(5, 120))
            if change < 0.06:  # new subtitle, same method name
                retitle = f"{p['name']}: {rng.choice(self.words).capitalize()} {topic.lower()}"
                p["revision"] = (revised, retitle, None)
            elif change < 0.09:  # renamed method over the identical abstract
                p["revision"] = (revised, f"{self._name(rng, taken)}: {topic}", None)
            elif change < 0.15:  # abstract edited: one word, or a sentence added
                edit = (
                    self._reworded(rng, p["abstract"], 1)
                    if rng.random() < 0.5
                    else p["abstract"] + " Code and data will be released."
                )
                p["revision"] = (revised, None, edit)
        return out

    def _bare_lookalikes(self, papers: list[dict], share: float, rng: random.Random) -> list[dict]:
        """Issue 24's look-alikes: 1-3 siblings that keep the paper's name before the colon, change one or
        two subtitle words, and reword the abstract in scattered words down to a similarity drawn from
        0.85-0.99 (rapidfuzz ratio); each sibling prints no metadata (no date, no authors), and so does
        the original, half the time: nothing but title and abstract to tell them apart."""
        out = list(papers)
        for base in papers:
            if rng.random() >= share:
                continue
            base["bare"] = base.get("bare", False) or rng.random() < 0.5
            base["family"] = base["id"]  # the original and its siblings: what eval scores as the class
            titles = {base["title"].lower()}  # a title of its own: the class is titles that differ
            for _ in range(rng.randint(1, 3)):
                while (title := self._retitled(rng, base)).lower() in titles:
                    pass
                titles.add(title.lower())
                abstract = self._reworded_to(rng, base["abstract"], rng.choice(BARE_SIMILARITIES))
                out.append({**base, "id": f"t{len(out)}", "title": title, "abstract": abstract, "bare": True})
                out[-1].pop("revision", None)
        return out

    def _retitled(self, rng: random.Random, base: dict) -> str:
        """The base's title with one or two subtitle words replaced, its name kept."""
        topic = base["title"].split(": ", 1)[1].split(" ")
        for i in rng.sample(range(len(topic)), min(len(topic), rng.randint(1, 2))):
            topic[i] = self._another_word(rng, topic[i])
        return f"{base['name']}: {' '.join(topic)}"

    def _another_word(self, rng: random.Random, word: str) -> str:
        """A random word that is not `word` (a replaced word that came out the same changes nothing)."""
        while (other := rng.choice(self.words).lower()) == word.lower():
            pass
        return other

    def _reworded_to(self, rng: random.Random, text: str, similarity: float) -> str:
        """`text` with words replaced at random places, two at least, until its ratio to `text` is at or
        below `similarity`."""
        words, places = text.split(" "), list(range(len(text.split(" ")) - 4))
        rng.shuffle(places)
        for n, i in enumerate(places, start=1):
            words[i] = self._another_word(rng, words[i])
            if n >= 2 and fuzz.ratio(text, " ".join(words)) <= similarity * 100:
                break
        return " ".join(words)

    def page(self, k: int) -> tuple[str, str, list[str]]:
        """File name, text and the true paper id of each entry of page k (dated one day after k-1)."""
        rng = random.Random(hash((k, len(self.papers))) & 0xFFFFFFFF)
        page_date = self.start + dt.timedelta(days=k * 365 // max(1, self.files))
        detailed = k % 3 != 0
        pool = self.papers[: bisect.bisect_right(self.dates, page_date)] or self.papers
        picks = (
            self._popular_picks(k, len(pool))
            if self.popular
            else rng.sample(pool, min(self.per_file, len(pool)))
        )
        out = [HEADER.format(daily="Daily Papers\n\n" if k % 2 else ""), _md(page_date), "\n\n"]
        for p in picks:
            title, abstract = p["title"], p["abstract"]
            if "revision" in p and page_date >= p["revision"][0]:
                title, abstract = p["revision"][1] or title, p["revision"][2] or abstract
            noise = rng.random()
            if noise < 0.05:
                title = title.upper()
            elif noise < 0.1:
                title += "."
            elif noise < 0.13:
                title = title.replace(":", f" {EN_DASH}")
            elif self.hard and noise < 0.16:
                title = title.lower().replace(":", "")
            elif self.hard and noise < 0.18:
                title = "  ".join(title.split(" ")).replace(": ", " : ")
            out += [title, "\n\n", abstract, "\n\n"]
            if detailed and not p.get("bare"):
                who = (
                    f"{p['name'].lower()}-lab {p['name']} Lab" if p["org"] else f"  • {p['authors']} authors"
                )
                d = p["published"]
                when = _md(d) if d.year == page_date.year else f"{_md(d)}, {d.year}"
                days = (page_date - d).days
                votes = int(p["base_upvotes"] + p["rate"] * max(0, days) ** 0.5)
                out += [who, "\n·\n", when + (f" {votes}" if votes else ""), "\n\n"]
        text = "".join(out).rstrip("\n") + "\n"
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return f"{k:05d}_{digest}.txt", text, [p["id"] for p in picks]

    def _popular_picks(self, k: int, pool: int) -> list[dict]:
        """The entries of page k drawn without replacement from the first `pool` papers with Zipf weights
        (Gumbel top-k: the largest log-weight plus Gumbel noise; O(pool) per page)."""
        noise = np.random.default_rng([self.seed + 30_000, k]).gumbel(size=pool)
        keys = self.log_weight[:pool] + noise
        m = min(self.per_file, pool)
        top = np.argpartition(-keys, m - 1)[:m]
        return [self.papers[i] for i in top[np.argsort(-keys[top])]]

    def write(self, out: Path) -> pd.DataFrame:
        raw = out / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        truth = []
        for k in range(self.files):
            name, text, ids = self.page(k)
            (raw / name).write_text(text, encoding="utf-8")
            truth += [(name, pos, pid) for pos, pid in enumerate(ids, start=1)]
        df = pd.DataFrame(truth, columns=["source_file", "position", "true_paper"])
        df.to_parquet(out / "truth.parquet", index=False)
        return df


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lookalikes", type=float, default=0.0, help="share of papers with look-alikes")
    ap.add_argument(
        "--bare-lookalikes", type=float, default=0.0, help="share of papers with look-alikes printed bare"
    )
    ap.add_argument("--popular", type=float, default=0.0, help="Zipf exponent of appearances per paper")
    args = ap.parse_args()
    corpus = Corpus(
        args.files,
        seed=args.seed,
        lookalikes=args.lookalikes,
        bare_lookalikes=args.bare_lookalikes,
        popular=args.popular,
    )
    truth = corpus.write(args.out)
    size = sum(p.stat().st_size for p in (args.out / "raw").iterdir())
    papers = truth["true_paper"].nunique()
    print(f"{args.files} files, {size / 1e6:.1f} MB, {len(truth)} entries, {papers} papers")


if __name__ == "__main__":
    main()
