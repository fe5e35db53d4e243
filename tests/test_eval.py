"""The measured-quality targets of the resolution issue, checked on the committed labelled sets."""

import pandas as pd

from eval.build import build
from eval.run import cluster_metrics, eval_dates, eval_links, eval_resolution, synthetic_sightings
from paperlake.resolve import resolve


def test_labelled_set_is_current():
    committed = pd.read_csv("eval/resolution.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(committed, build().astype(str), check_dtype=False)


def test_resolution_meets_precision_and_recall_targets():
    m = eval_resolution(with_splink=False)["paperlake"]
    assert m["precision"] >= 0.999 and m["recall"] >= 0.99, m


def test_date_and_link_extraction_accuracy():
    assert eval_dates()["accuracy"] == 1.0
    assert eval_links()["accuracy"] == 1.0


def test_cluster_metrics_can_fail():
    gold = pd.Series(["a", "a", "b", "b"], index=list("wxyz"))
    assert cluster_metrics(gold, gold)["f1"] == 1.0
    lumped = cluster_metrics(gold, pd.Series(["a"] * 4, index=list("wxyz")))
    assert lumped["precision"] == round(2 / 6, 4) and lumped["recall"] == 1.0


def test_synthetic_resolution_recovers_truth():
    s = synthetic_sightings(6_000)
    res = resolve(s)
    truth = s["sighting_id"].str.split("_").str[0]
    pred = pd.Series(res.sightings["paper_id"].values, index=res.sightings["sighting_id"].values)
    m = cluster_metrics(pd.Series(truth.values, index=s["sighting_id"].values), pred)
    assert m["precision"] == 1.0 and m["recall"] == 1.0
