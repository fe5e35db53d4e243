"""Sightings without an abstract join a paper only on strong evidence (eval/bare.py, part of `make eval`)."""

from eval.bare import cases, eval_bare


def test_no_abstract_sightings_join_only_their_one_same_date_paper():
    m = eval_bare()
    assert m["accuracy"] == 1.0, m["failures"]
    assert set(m["kinds"]) == {"same_date", "same_date_upper", "other_date", "ambiguous"}
    assert min(m["kinds"].values()) >= 20


def test_cases_put_no_abstract_sightings_beside_the_seeds():
    sightings, gold = cases()
    bare = sightings[sightings["abstract"].isna()]
    assert set(bare["sighting_id"]) == set(gold.index)
    assert (bare["flag"] == "no_abstract").all() and bare["published_date"].notna().all()
