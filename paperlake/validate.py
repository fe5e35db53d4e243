"""Lazy Pandera validation that quarantines failing rows instead of failing the whole frame."""

import re

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from paperlake.parse import excerpt
from schemas.vocabulary import SCHEMA_PREFIX

_ARGS = re.compile(r"\(.*\)$", re.S)


def _code(text: object) -> str:
    """'str_length(1, 1000)' → 'str_length'; "dtype('int64')" → 'dtype': stable codes for rejects.reason."""
    code = _ARGS.sub("", str(text)).strip().lower()
    return re.sub(r"[^a-z_]+", "_", code).strip("_") or "check"


def quarantine(df: pd.DataFrame, schema: pa.DataFrameSchema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(valid rows, failures) where failures has one row per failing input row: index, reason, detail.

    A failure not tied to a row (a missing column, a wrong dtype for the whole frame) is a bug in
    paperlake, not bad data, so it raises.
    """
    try:
        return schema.validate(df, lazy=True), pd.DataFrame(columns=["reason", "detail"])
    except SchemaErrors as exc:
        fc = exc.failure_cases
    if fc["index"].isna().any():
        raise ValueError(f"{schema.name}: frame-level contract failure\n{fc[fc['index'].isna()]}")
    fc = fc.assign(
        reason=[
            f"{SCHEMA_PREFIX}{'row' if ctx == 'DataFrameSchema' else _code(col)}:{_code(chk)}"
            for ctx, col, chk in zip(fc["schema_context"], fc["column"], fc["check"], strict=True)
        ],
        detail=[
            f"{col}: {chk} failed for {excerpt(str(val), 80)!r}"
            for col, chk, val in zip(fc["column"], fc["check"], fc["failure_case"], strict=True)
        ],
    )
    first = fc.groupby("index", sort=True).agg(reason=("reason", "first"), detail=("detail", "; ".join))
    bad = df.index.isin(first.index)
    return schema.validate(df[~bad], lazy=True), first
