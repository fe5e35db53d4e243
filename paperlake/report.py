"""Plots of the warehouse as PNG files: papers per month, topics over time, upvotes, top papers.

Reads through a read-only DuckDB connection, so the figures show exactly what SQL users see. A figure is
drawn again only when its data (or this module) changed: most new captures move one figure or none, and
matplotlib is imported only to draw.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from paperlake.config import Paths, write_whole
from paperlake.db import connect_readonly
from paperlake.duck import scalar

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FIGSIZE = (8, 4.5)
TOP_TOPICS = 6
DRAWN = "drawn.json"  # per figure, the hash of the data and code it was drawn from
Plot = Callable[["Axes", pd.DataFrame], None]  # draws a figure's data on its axes


@cache
def _plt() -> Any:
    """matplotlib.pyplot, files only (no display); imported on the first figure drawn (~0.5 s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw(path: Path, df: pd.DataFrame, title: str, none: str, plot: Plot) -> None:
    """One figure: `plot` draws the data, or the figure says there is `none` yet; then its title."""
    fig, ax = _plt().subplots(figsize=FIGSIZE)
    if df.empty:
        ax.text(0.5, 0.5, f"no {none} yet", ha="center", va="center", transform=ax.transAxes)
    else:
        plot(ax, df)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def _per_month(ax: "Axes", df: pd.DataFrame) -> None:
    ax.bar(df["month"], df["papers"], width=20, color="#4c72b0")
    ax.set_ylabel("papers")


def _topics(ax: "Axes", df: pd.DataFrame) -> None:
    top = df.groupby("topic")["papers"].sum().nlargest(TOP_TOPICS).index
    wide = df[df["topic"].isin(top)].pivot_table(index="year", columns="topic", values="papers", fill_value=0)
    wide.plot(ax=ax, marker="o")
    ax.set(ylabel="papers", xlabel="publication year")


def _upvotes(ax: "Axes", df: pd.DataFrame) -> None:
    ax.hist(df["upvotes_max"], bins=min(30, max(5, len(df) // 3)), color="#55a868")
    ax.set(xlabel="highest upvotes observed", ylabel="papers")


def _top(ax: "Axes", df: pd.DataFrame) -> None:
    names = [n if len(n) <= 45 else n[:44] + "…" for n in df["name"]][::-1]
    ax.barh(names, df["score"][::-1], color="#c44e52")
    ax.set_xlabel("upvotes (max observed), else sightings")


@dataclass
class Reports:
    figures: dict[str, Path]  # name → PNG
    drawn: list[str]  # the figures drawn this time (the others' data did not change)
    version: int  # the published version they show


def build_reports(paths: Paths) -> Reports:
    """Every figure under <OUT>/reports/, each drawn again only when its data or this code changed."""
    out = paths.out_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    with connect_readonly(paths) as con:
        monthly = con.sql("""SELECT date_trunc('month', published_date)::DATE AS month, count(*) AS papers
                             FROM papers WHERE published_date IS NOT NULL GROUP BY ALL ORDER BY month""").df()
        topics = con.sql("""SELECT year(published_date) AS year, topic, count(*) AS papers
                            FROM papers, unnest(topics) AS t(topic)
                            WHERE published_date IS NOT NULL GROUP BY ALL ORDER BY year, topic""").df()
        upvotes = con.sql("SELECT upvotes_max FROM papers WHERE upvotes_max IS NOT NULL ORDER BY 1").df()
        top = con.sql("""SELECT name, coalesce(upvotes_max, n_sightings) AS score FROM top_papers
                         ORDER BY upvotes_max DESC NULLS LAST, n_sightings DESC, name LIMIT 10""").df()
        version = scalar(con, "SELECT max(version) FROM paperlake_version")
    upvoted = f"Upvote distribution ({len(upvotes)} papers with upvotes)"
    plots = {  # name → its data, title, what an empty one has none of, and how it is drawn
        "papers_per_month": (monthly, "Papers per publication month", "dated papers", _per_month),
        "topics_over_time": (topics, f"Top {TOP_TOPICS} topics over time", "topics", _topics),
        "upvote_distribution": (upvotes, upvoted, "upvotes", _upvotes),
        "top_papers": (top, "Top papers", "papers", _top),
    }
    record = out / DRAWN
    try:  # a cache of what was drawn: missing or unreadable, every figure is drawn
        before = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    code = Path(__file__).read_bytes()
    now, figures, drawn = {}, {}, []
    for name, (df, title, none, plot) in plots.items():
        figures[name] = out / f"{name}.png"
        now[name] = hashlib.sha256(code + df.to_csv(index=False).encode()).hexdigest()
        if now[name] != before.get(name) or not figures[name].exists():
            _draw(figures[name], df, title, none, plot)
            drawn.append(name)
    if drawn:
        write_whole(record, json.dumps(now, indent=1).encode())
    return Reports(figures, drawn, version)
