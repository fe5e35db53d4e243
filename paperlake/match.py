"""Evidence from every field of a candidate pair of records, weighed Fellegi-Sunter style.

Each field of a pair is compared into a *level*; each level carries a weight, log2(m / u), where m is how
often one paper's records show that level and u how often two different papers found by the same
blocking do. Agreement adds, disagreement subtracts, a missing field (compact layout: no date, no
authors; a null abstract) adds nothing. A pair merges when its weights sum to THRESHOLD or more.

Fields: `title` (rapidfuzz ratio of title keys), `name` (key of the short name before the title's colon),
`abstract` (rapidfuzz ratio of abstract keys; a capture cut off mid-abstract is aligned with the start
of the full one), `published` (published date), `authors` (authors count, or the organisation shown
instead of it).

The weights start from `python -m eval.fit` (m and u counted on the labelled candidate pairs of a
generated look-alike corpus with its own seed, not the one `make eval` scores) and were then set by
measurement on the labelled set and five generator seeds; the README gives both and why. What they say:
an identical long abstract is near-proof (a retitled or renamed paper merges); a different short name or
published date outweighs near-identical abstracts and subtitles (look-alikes stay apart).

pandas is imported by the functions that build frames: `paperlake show` reads the weights without it.
"""

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from paperlake.normalize import text_keys

if TYPE_CHECKING:
    import pandas as pd

MIN_IDENTICAL_WORDS = 40  # an identical abstract shorter than this is not proof (boilerplate)
TITLE_CUTS = {"high": 95.0, "similar": 85.0}  # rapidfuzz ratio of title keys
ABSTRACT_CUTS = {"near": 97.0, "similar": 90.0, "weak": 75.0}  # rapidfuzz ratio of abstract keys
# Two texts, not one paper's captures: the titles differ (≥ 95 alike: 1, else 2) and the places the
# abstracts differ in bring the sum to this. One paper's capture reprints its abstract as it was, or edited
# in one place; a look-alike rewords both texts (README, "reworded"). Under one title, a revision stays one.
REWORDED_AT = 3
TITLE_DISTANCE = {"exact": 0, "high": 1}
NAME_SIMILAR = 85.0  # two names this close (or one edit apart) are one name with a typo

# field → level → weight (log2 likelihood ratio; set by measurement, fitted values beside them in README)
WEIGHTS: dict[str, dict[str, float]] = {
    "title": {"exact": 4.0, "high": 3.0, "similar": 0.0, "different": -4.0},
    "name": {"same": 1.0, "similar": -3.0, "different": -10.0, "missing": 0.0},
    "abstract": {
        "exact": 18.0,
        "reworded": -10.0,
        "near": 4.0,
        "similar": 1.0,
        "weak": -8.0,
        "different": -14.0,
        "missing": 0.0,
    },
    "published": {"same": 2.0, "different": -10.0, "missing": 0.0},
    "authors": {"same": 1.0, "different": -5.0, "missing": 0.0},
}
THRESHOLD = 2.0  # merge when the weights sum to at least this: clearly more likely one paper than two
FIELDS = tuple(WEIGHTS)

NAME_SEPARATORS = (" \u2013 ", " \u2014 ", " - ")  # spaced en dash, em dash, hyphen: read as a colon
MAX_NAME_CHARS = 60


def short_names(titles: "pd.Series") -> "pd.Series":
    """Key of the part of each title before its colon (or spaced dash); None when it has none (Arrow
    kernels over the distinct titles)."""
    import pandas as pd

    codes, uniq = pd.factorize(titles)
    arr = pa.array(uniq, type=pa.string())
    for sep in NAME_SEPARATORS:
        arr = pc.replace_substring(arr, sep, ":")
    parts = pc.split_pattern(arr, ":", max_splits=1)
    head = pc.list_element(parts, 0)
    named = pc.and_(
        pc.equal(pc.list_value_length(parts), 2), pc.less_equal(pc.utf8_length(head), MAX_NAME_CHARS)
    )
    keys = text_keys(pc.if_else(named, head, None)).to_pylist()
    return pd.Series(np.array([k or None for k in keys] + [None], dtype=object)[codes], index=titles.index)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0:
        return np.zeros(0)
    return process.cpdist(list(a), list(b), scorer=fuzz.ratio, workers=-1).astype(float)  # every core


def abstract_scores(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """rapidfuzz ratio; when one abstract is 50-90 % as long as the other, its alignment with the start of
    the longer one counts too, so a capture cut off mid-abstract still matches the full one."""
    score = _ratio(a, b)
    la, lb = np.fromiter(map(len, a), int, len(a)), np.fromiter(map(len, b), int, len(b))
    ratio = np.minimum(la, lb) / np.maximum(np.maximum(la, lb), 1)
    cut = np.flatnonzero((ratio >= 0.5) & (ratio < 0.9))
    if len(cut):
        short = np.where(la[cut] <= lb[cut], a[cut], b[cut])
        long_ = np.where(la[cut] <= lb[cut], b[cut], a[cut])
        prefix = np.array([lg[: len(sh)] for sh, lg in zip(short, long_, strict=True)], dtype=object)
        score[cut] = np.maximum(score[cut], _ratio(short, prefix))
    return score


def abstract_places(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """In how many separate places two abstract keys differ: the runs of words the word-level alignment
    (Levenshtein opcodes) does not keep, each run counted once (0: equal). An edit or an added sentence
    is one place, a capture cut off mid-abstract one more; a look-alike's reworded abstract is many."""
    out = np.zeros(len(a), dtype=np.int64)
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            tags = [op.tag for op in Levenshtein.opcodes(x.split(" "), y.split(" "))]
            out[k] = sum(t != "equal" and (i == 0 or tags[i - 1] == "equal") for i, t in enumerate(tags))
    return out


def _name_levels(na: np.ndarray, nb: np.ndarray, ta: np.ndarray, tb: np.ndarray) -> np.ndarray:
    """same / similar (a typo) / different; when only one title has a short name of k words, it is
    compared with the first k words of the other title (a capture that dropped the colon); missing when
    neither has one."""
    out = np.full(len(na), "missing", dtype=object)
    for k, (a, b, x, y) in enumerate(zip(na, nb, ta, tb, strict=True)):
        if not (a or b):
            continue
        if not (a and b):  # one short name of k words: the other title's first k words stand in
            name, other = (a, y) if a else (b, x)
            a, b = name, " ".join(other.split(" ")[: name.count(" ") + 1])
        typo = Levenshtein.distance(a, b) <= 1 or fuzz.ratio(a, b) >= NAME_SIMILAR
        out[k] = "same" if a == b else "similar" if typo else "different"
    return out


def _present(a: np.ndarray) -> np.ndarray:
    return np.array([v is not None for v in a], dtype=bool)


def _equal_or_missing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both = _present(a) & _present(b)
    same = both & (a == b)
    return np.select([same, both], ["same", "different"], default="missing").astype(object)


def compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per pair (row k of a with row k of b): the scores (`abstract_places`: -1 where not counted), each
    field's level, the total match weight and whether both have an abstract.

    a and b hold record columns as object arrays (None: missing): title_key, abstract_key (None: no
    abstract), name, published_date, authors_count, organization."""
    ta, tb = a["title_key"], b["title_key"]
    has_abstract = _present(a["abstract_key"]) & _present(b["abstract_key"])
    aa, ab = np.where(has_abstract, a["abstract_key"], ""), np.where(has_abstract, b["abstract_key"], "")
    title_score = _ratio(ta, tb)
    abstract_score = np.where(has_abstract, abstract_scores(aa, ab), 0.0)
    words = np.array([s.count(" ") + 1 for s in aa])
    close = has_abstract & (abstract_score >= ABSTRACT_CUTS["similar"])  # only these are counted
    places = np.full(len(aa), -1, dtype=np.int64)
    places[close] = abstract_places(aa[close], ab[close])
    title = np.select(
        [ta == tb, title_score >= TITLE_CUTS["high"], title_score >= TITLE_CUTS["similar"]],
        ["exact", "high", "similar"],
        default="different",
    )
    apart = np.select([title == level for level in TITLE_DISTANCE], list(TITLE_DISTANCE.values()), 2)
    levels = {
        "title": title,
        "name": _name_levels(a["name"], b["name"], ta, tb),
        "abstract": np.select(
            [
                ~has_abstract,
                (aa == ab) & (words >= MIN_IDENTICAL_WORDS),
                (places > 0) & (apart > 0) & (places + apart >= REWORDED_AT),
                abstract_score >= ABSTRACT_CUTS["near"],
                abstract_score >= ABSTRACT_CUTS["similar"],
                abstract_score >= ABSTRACT_CUTS["weak"],
            ],
            ["missing", "exact", "reworded", "near", "similar", "weak"],
            default="different",
        ),
        "published": _equal_or_missing(a["published_date"], b["published_date"]),
        "authors": np.where(
            _present(a["authors_count"]) & _present(b["authors_count"]),
            _equal_or_missing(a["authors_count"], b["authors_count"]),
            _equal_or_missing(a["organization"], b["organization"]),
        ),
    }
    out = dict(
        title_score=title_score.round(1), abstract_score=abstract_score.round(1), abstract_places=places
    )
    out |= {f"{f}_agreement": np.asarray(lv, dtype=object) for f, lv in levels.items()}
    weight = sum(np.array([WEIGHTS[f][v] for v in out[f"{f}_agreement"]], dtype=float) for f in FIELDS)
    return out | {"match_weight": np.round(weight, 2), "has_abstract": has_abstract}


EXPLAIN_SQL = f"""CASE WHEN merged
    THEN 'merged: the evidence sums to ' || match_weight || ' (≥ {THRESHOLD:g})'
    ELSE 'not merged: ' || concat_ws(', ',
        CASE abstract_agreement
            WHEN 'reworded' THEN 'abstracts differ in ' || abstract_places || ' places'
            WHEN 'weak' THEN 'abstracts only loosely alike'
            WHEN 'different' THEN 'different abstracts'
            WHEN 'missing' THEN 'an abstract is missing' END,
        CASE WHEN title_agreement <> 'exact' THEN 'titles differ' END,
        CASE WHEN name_agreement IN ('similar', 'different') THEN 'names differ' END,
        CASE WHEN published_agreement = 'different' THEN 'published dates differ' END,
        CASE WHEN authors_agreement = 'different' THEN 'authors differ' END,
        CASE WHEN published_agreement = 'missing' AND authors_agreement = 'missing'
             THEN 'no date or authors to compare' END)
    END"""
"""SQL over a `matches` row: its decision in words ("not merged: abstracts differ in 12 places, titles
differ, no date or authors to compare"), what `paperlake show` prints per pair."""
