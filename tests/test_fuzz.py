"""Property-based fuzzing of the parser: arbitrary bytes and mutated real captures.

Properties: no exception escapes; entries found = valid + rejected; positions 1..n_entries each
appear exactly once; every non-blank body line belongs to a sighting or a reject; every row satisfies
its Pandera model. `make fuzz` runs the long campaign (HYPOTHESIS_PROFILE=campaign).
"""

import datetime as dt
import os

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from paperlake.parse import read_page
from schemas import Pages, Rejects, Sightings
from tests.helpers import SAMPLE, SEED_ENTRIES, process_page

pytestmark = pytest.mark.slow
settings.register_profile("ci", max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "campaign",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SEEDS = [(SAMPLE / name).read_bytes() for name in sorted(SEED_ENTRIES)]
MTIME = dt.datetime(2026, 6, 1)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]


def check_invariants(data: bytes) -> None:
    page = read_page(data, "fuzz.txt", MTIME)
    tables = process_page(page)
    p = tables.pages.iloc[0]
    entry_rejects = tables.rejects[tables.rejects["kind"] == "entry"]
    assert p["n_entries"] == p["n_valid"] + p["n_rejected"]
    assert len(tables.sightings) == p["n_valid"] and len(entry_rejects) == p["n_rejected"]
    positions = sorted([*tables.sightings["position"], *entry_rejects["position"].astype(int)])
    assert positions == list(range(1, int(p["n_entries"]) + 1))
    Pages.validate(tables.pages)
    Sightings.validate(tables.sightings)
    Rejects.validate(tables.rejects)
    if page.text is not None and page.reason is None:
        covered = set()
        spans = [
            *zip(tables.sightings["line_start"], tables.sightings["line_end"], strict=True),
            *zip(entry_rejects["line_start"], entry_rejects["line_end"], strict=True),
        ]
        for start, end in spans:
            covered.update(range(int(start), int(end) + 1))
        lines = page.text.split("\n")
        body = {i + 1 for i in range(page.body_start, len(lines)) if lines[i].strip()}
        assert body <= covered, sorted(body - covered)[:5]


@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data: bytes):
    check_invariants(data)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=2000))
def test_arbitrary_text_after_a_real_header(text: str):
    check_invariants(SEEDS[1][:200] + text.encode("utf-8", "surrogatepass").replace(b"\xed", b""))


@st.composite
def mutated_capture(draw) -> bytes:  # noqa: C901  # a flat dispatch over the mutation kinds, read at a glance
    text = draw(st.sampled_from(SEEDS)).decode("utf-8")
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "replace", "swap", "blank", "ws"]))
        i = draw(st.integers(0, len(lines) - 1))
        j = min(len(lines), i + draw(st.integers(1, 12)))
        if op == "delete":
            del lines[i:j]
        elif op == "duplicate":
            lines[i:i] = lines[i:j]
        elif op == "insert":
            lines.insert(i, draw(st.text(max_size=300)))
        elif op == "replace":
            lines[i] = draw(
                st.sampled_from(
                    [
                        "·",
                        "  • 3 authors",
                        "Oct 3",
                        "Feb 29 7",
                        "Dec 31, 2024 12",
                        "org Org Name",
                        "&amp; &lt;b&gt;",
                        "\t",
                        "x" * 5000,
                    ]
                )
            )
        elif op == "swap":
            lines[i], lines[j - 1] = lines[j - 1], lines[i]
        elif op == "blank":
            lines.insert(i, "")
        else:
            lines[i] = draw(st.sampled_from(["\t", "  ", "\u00a0", "\r"])) + lines[i] + "   "
    out = "\n".join(lines)
    if draw(st.booleans()):
        out = out.replace("\n", "\r\n")
    data = out.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # cut off anywhere, even mid-character
    return data


@given(mutated_capture())
def test_mutated_real_captures(data: bytes):
    check_invariants(data)
