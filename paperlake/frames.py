"""Records ↔ DataFrames ↔ Arrow, typed by the Pandera models so every writer agrees on the schema."""

import functools

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow

ARROW_TYPES = {
    "VARCHAR": pa_arrow.string(),
    "BIGINT": pa_arrow.int64(),
    "BOOLEAN": pa_arrow.bool_(),
    "DATE": pa_arrow.date32(),
    "DOUBLE": pa_arrow.float64(),
    "VARCHAR[]": pa_arrow.list_(pa_arrow.string()),
}


@functools.cache
def columns(model: type[pa.DataFrameModel]) -> dict[str, dict]:
    """Column name → {'sql', 'description', 'nullable'} in contract order."""
    schema = model.to_schema()
    return {
        name: {
            "sql": (col.metadata or {}).get("sql", "VARCHAR"),
            "description": col.description or "",
            "nullable": bool(col.nullable),
        }
        for name, col in schema.columns.items()
    }


def frame(records: list[dict], model: type[pa.DataFrameModel]) -> pd.DataFrame:
    """Records → DataFrame with exactly the model's columns and in-memory dtypes (dates as datetime64)."""
    return conform(pd.DataFrame.from_records(records, columns=list(columns(model))), model)


def conform(df: pd.DataFrame, model: type[pa.DataFrameModel]) -> pd.DataFrame:
    """Select the model's columns in order and give each its in-memory dtype (built in one go: this runs
    for every slice written, so per-column inserts would dominate small frames)."""
    data = {}
    for name, spec in columns(model).items():
        s = df[name] if name in df else pd.Series([None] * len(df), index=df.index, dtype=object)
        sql = spec["sql"]
        if sql == "DATE":
            s = s if s.dtype == "datetime64[ns]" else pd.to_datetime(s, errors="coerce")
        elif sql == "BIGINT":
            s = s.astype("Int64") if spec["nullable"] else s.astype("int64")
        elif sql == "DOUBLE":
            s = pd.to_numeric(s, errors="coerce").astype("float64")
        elif sql == "BOOLEAN":
            s = s.astype(bool)
        elif sql == "VARCHAR[]":  # Arrow gives numpy arrays back: the contract says Python lists
            s = s.map(lambda v: v if isinstance(v, list) else [] if v is None else list(v))
        elif sql == "VARCHAR" and s.dtype != object:
            s = s.astype(object)
        data[name] = s
    return pd.DataFrame(data, index=df.index)


@functools.cache
def arrow_schema(model: type[pa.DataFrameModel]) -> pa_arrow.Schema:
    return pa_arrow.schema(
        pa_arrow.field(n, ARROW_TYPES[c["sql"]], nullable=c["nullable"] or c["sql"] == "VARCHAR[]")
        for n, c in columns(model).items()
    )


def to_arrow(df: pd.DataFrame, model: type[pa.DataFrameModel]) -> pa_arrow.Table:
    """DataFrame → Arrow table with the contract's types (datetime64 → DATE, NaN/NaT → null)."""
    df = conform(df, model)
    arrays = []
    schema = arrow_schema(model)
    for f in schema:
        s = df[f.name]
        if pa_arrow.types.is_date32(f.type):
            arrays.append(pa_arrow.Array.from_pandas(s).cast(f.type))
        elif pa_arrow.types.is_list(f.type):
            arrays.append(pa_arrow.array(s.tolist(), type=f.type))
        else:
            arrays.append(pa_arrow.Array.from_pandas(s, type=f.type))
    return pa_arrow.Table.from_arrays(arrays, schema=schema)


def from_arrow(table: pa_arrow.Table, model: type[pa.DataFrameModel]) -> pd.DataFrame:
    df = table.to_pandas(types_mapper={pa_arrow.int64(): pd.Int64Dtype()}.get, date_as_object=False)
    return conform(df, model)
