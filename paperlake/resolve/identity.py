"""Papers and their ids: connected components over merged pairs, and ids that survive re-runs.

A registry maps record → paper_id. A cluster keeps the id its records already had; a new cluster gets
"p_" + sha256(title key, abstract key of its earliest record)[:12]; when clusters merge, the earliest id
survives and the others are kept as aliases (`papers.merged_ids`).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from paperlake.normalize import short_hash

# SQL: the id a record gives the new paper it is the earliest record of: "p_" + sha256 of its title and
# abstract keys, first 12 hex digits (its record id is the first 16 of that very hash)
NEW_ID = "'p_' || left(record_id, 12)"


@dataclass
class Registry:
    """Identity that survives re-runs: record → paper_id, and ids that were merged away → survivor."""

    records: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["record_id", "paper_id"]))
    aliases: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["old_id", "paper_id"]))


def cluster(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected components over merged pairs (record indexes `i`, `j`): record index → cluster label."""
    graph = coo_matrix((np.ones(len(i)), (i.astype(int), j.astype(int))), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def assign_ids(records: pd.DataFrame, labels: np.ndarray, registry: Registry) -> tuple[pd.Series, Registry]:
    """record_id → paper_id, reusing registered ids; merged-away ids become aliases (vectorised).

    `records` (record_id, new_id: NEW_ID, the id a new cluster gets from its earliest record) are in
    earliest-first order, so "first" below means earliest: a cluster keeps the registered
    id of its earliest record that has one; if a registered id now spans several clusters (a split), the
    earliest cluster keeps it and the others get new ids."""
    frame = pd.DataFrame(
        {"record_id": records["record_id"].values, "label": labels, "order": np.arange(len(records))}
    )
    frame["prev"] = frame["record_id"].map(
        dict(zip(registry.records["record_id"], registry.records["paper_id"], strict=True))
    )
    label_rank = frame.groupby("label")["order"].min()
    olds = frame.dropna(subset=["prev"]).drop_duplicates(["label", "prev"])
    olds = olds.assign(rank=olds["label"].map(label_rank))
    owner = olds.sort_values("rank").drop_duplicates("prev").set_index("prev")["label"]
    owned = olds[olds["label"].to_numpy() == olds["prev"].map(owner).to_numpy()].sort_values("order")
    chosen = owned.drop_duplicates("label").set_index("label")["prev"]
    first = frame.drop_duplicates("label").set_index("label")
    fresh = first.index.difference(chosen.index)
    firsts = records.iloc[first.loc[fresh, "order"].to_numpy()]
    new_ids = pd.Series(firsts["new_id"].to_numpy(), index=fresh, dtype=object)
    clash = new_ids.isin(set(chosen.values))  # a split half whose earliest record minted the kept id
    new_ids[clash] = ["p_" + short_hash(pid, "split", length=12) for pid in new_ids[clash]]
    ids = pd.concat([chosen, new_ids])
    merged_away = owned[~owned["prev"].isin(chosen.values)]
    aliases = dict(zip(registry.aliases["old_id"], registry.aliases["paper_id"], strict=True))
    aliases.update(zip(merged_away["prev"], merged_away["label"].map(ids), strict=True))
    aliases = {old: new for old, new in aliases.items() if old not in set(ids.values)}
    paper_of_record = pd.Series(frame["label"].map(ids).values, index=frame["record_id"].values)
    new_registry = Registry(
        records=pd.DataFrame({"record_id": paper_of_record.index, "paper_id": paper_of_record.values}),
        aliases=pd.DataFrame(
            {"old_id": list(aliases), "paper_id": list(aliases.values())}, columns=["old_id", "paper_id"]
        ),
    )
    return paper_of_record, new_registry
