"""Dagster metadata built from the Pandera contract: column schemas, row counts, escaped previews."""

from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pyarrow

from paperlake.digest import md_text
from paperlake.frames import columns

PREVIEW_ROWS = 10
PREVIEW_CHARS = 80


def md_escape(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """Titles are data, not markup: HTML-escape, backslash-escape Markdown, one line, truncated.
    `value` is any cell of a frame (a scalar, a missing value or a list), hence Any."""
    if not pd.api.types.is_scalar(value):  # list columns: show as "a, b, c"
        value = ", ".join(map(str, value))
    elif value is None or pd.isna(value):
        return ""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return md_text(text)


def md_table(
    df: pd.DataFrame | pyarrow.Table, cols: Sequence[str] | None = None, rows: int = PREVIEW_ROWS
) -> str:
    """The first `rows` rows as a Markdown table (Arrow rows are read as Python values, not via pandas)."""
    cols = list(cols or (df.columns if isinstance(df, pd.DataFrame) else df.column_names))
    if isinstance(df, pd.DataFrame):
        body: Iterable[Sequence[Any]] = df.head(rows)[cols].itertuples(index=False)
    else:
        body = zip(*(df.slice(0, rows).column(c).to_pylist() for c in cols), strict=True)
    lines = ["| " + " | ".join(md_escape(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(md_escape(v) for v in row) + " |" for row in body]
    return "\n".join(lines)


def table_schema(model: type[pa.DataFrameModel]) -> dg.TableSchema:
    schema = model.to_schema()
    cols = []
    for name, spec in columns(model).items():
        col = schema.columns[name]
        other = [str(c.name if c.name else c) for c in col.checks]
        cols.append(
            dg.TableColumn(
                name,
                spec["sql"],
                description=spec["description"],
                constraints=dg.TableColumnConstraints(
                    nullable=spec["nullable"], unique=bool(col.unique), other=other
                ),
            )
        )
    return dg.TableSchema(columns=cols)


def table_metadata(
    df: pd.DataFrame,
    model: type[pa.DataFrameModel],
    preview_cols: Sequence[str],
    path: str,
    rows: int | None = None,
) -> dict:
    """The metadata every table asset reports: row count (`rows`, else the frame's), column schema,
    escaped preview of the frame's first rows, file path."""
    return {
        "dagster/row_count": len(df) if rows is None else rows,
        "dagster/column_schema": table_schema(model),
        "preview": dg.MetadataValue.md(md_table(df, preview_cols)),
        "path": dg.MetadataValue.path(path),
    }
