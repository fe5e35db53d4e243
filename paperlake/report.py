"""Plots of the warehouse as PNG files: papers per month, topics over time, upvotes, top papers.

Reads through a read-only DuckDB connection, so the figures show exactly what SQL users see.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd

from paperlake.config import Paths
from paperlake.db import connect_readonly

FIGSIZE = (8, 4.5)
TOP_TOPICS = 6


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _empty(ax: plt.Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} yet", ha="center", va="center", transform=ax.transAxes)


def papers_per_month(df: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=FIGSIZE)
    if df.empty:
        _empty(ax, "dated papers")
    else:
        ax.bar(df["month"], df["papers"], width=20, color="#4c72b0")
        ax.set_ylabel("papers")
    ax.set_title("Papers per publication month")
    return _save(fig, path)


def topics_over_time(df: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=FIGSIZE)
    if df.empty:
        _empty(ax, "topics")
    else:
        top = df.groupby("topic")["papers"].sum().nlargest(TOP_TOPICS).index
        wide = df[df["topic"].isin(top)].pivot_table(
            index="year", columns="topic", values="papers", fill_value=0
        )
        wide.plot(ax=ax, marker="o")
        ax.set_ylabel("papers")
        ax.set_xlabel("publication year")
    ax.set_title(f"Top {TOP_TOPICS} topics over time")
    return _save(fig, path)


def upvote_distribution(df: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=FIGSIZE)
    if df.empty:
        _empty(ax, "upvotes")
    else:
        ax.hist(df["upvotes_max"], bins=min(30, max(5, len(df) // 3)), color="#55a868")
        ax.set_xlabel("highest upvotes observed")
        ax.set_ylabel("papers")
    ax.set_title(f"Upvote distribution ({len(df)} papers with upvotes)")
    return _save(fig, path)


def top_papers(df: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=FIGSIZE)
    if df.empty:
        _empty(ax, "papers")
    else:
        names = [n if len(n) <= 45 else n[:44] + "…" for n in df["name"]][::-1]
        ax.barh(names, df["score"][::-1], color="#c44e52")
        ax.set_xlabel("upvotes (max observed), else sightings")
    ax.set_title("Top papers")
    return _save(fig, path)


def build_reports(paths: Paths) -> dict[str, Path]:
    """Draw every figure into <OUT>/reports/ and return name → PNG path."""
    out = paths.out_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    with connect_readonly(paths) as con:
        monthly = con.sql("""SELECT date_trunc('month', published_date)::DATE AS month, count(*) AS papers
                             FROM papers WHERE published_date IS NOT NULL GROUP BY ALL ORDER BY month""").df()
        topics = con.sql("""SELECT year(published_date) AS year, topic, count(*) AS papers
                            FROM papers, unnest(topics) AS t(topic)
                            WHERE published_date IS NOT NULL GROUP BY ALL ORDER BY year""").df()
        upvotes = con.sql("SELECT upvotes_max FROM papers WHERE upvotes_max IS NOT NULL").df()
        top = con.sql("""SELECT name, coalesce(upvotes_max, n_sightings) AS score FROM top_papers
                         ORDER BY upvotes_max DESC NULLS LAST, n_sightings DESC LIMIT 10""").df()
    return {
        "papers_per_month": papers_per_month(monthly, out / "papers_per_month.png"),
        "topics_over_time": topics_over_time(topics, out / "topics_over_time.png"),
        "upvote_distribution": upvote_distribution(upvotes, out / "upvote_distribution.png"),
        "top_papers": top_papers(top, out / "top_papers.png"),
    }
