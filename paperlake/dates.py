"""Month-day dates without a year, and the rule that gives them one.

The site prints a year only for dates outside the year the page was rendered in. So:

1. A date printed with a year is that date; the page's year is later than every such year.
2. The page's year is, in order of preference: the year of a date in the file name (``2025-03-11``,
   ``20250311``) when it is not contradicted by rule 1; else one more than the newest printed year
   (the earliest year the page is consistent with); else the latest year in which the page's
   month-day does not fall after the file's modification time.
3. A yearless entry date is in the page's year, unless its month-day falls after the page's
   month-day, in which case it belongs to the year before.

Every inferred date keeps its raw text in a ``*_raw`` column and the page date its ``page_date_source``.
"""

import datetime as dt
import functools
import re
from dataclasses import dataclass

_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {m: i for i, m in enumerate(_ABBR, start=1)}
# "Oct 22, 2024", "Oct 3", optionally followed by an upvote count: "Dec 18 2", "Dec 31, 2024 1".
DATE_LINE = re.compile(rf"^({'|'.join(MONTHS)}) (\d{{1,2}})(?:, (\d{{4}}))?(?: (\d{{1,7}}))?$")
_FILENAME_DATE = re.compile(r"(?<!\d)(20\d{2})[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])(?!\d)")


@dataclass(frozen=True)
class MonthDay:
    """A printed date: month and day, the year when printed, and the raw text."""

    month: int
    day: int
    year: int | None
    raw: str

    def on(self, year: int) -> dt.date | None:
        try:
            return dt.date(year, self.month, self.day)
        except ValueError:  # Feb 29 outside a leap year, Apr 31, ...
            return None


@functools.lru_cache(maxsize=1 << 14)  # date lines repeat across entries and pages; the result is immutable
def parse_date_line(line: str) -> tuple[MonthDay, int | None] | None:
    """`Dec 31, 2024 1` → (MonthDay(12, 31, 2024), 1); None when the line is not a date line."""
    m = DATE_LINE.match(line.strip())
    if not m:
        return None
    month, day, year, upvotes = m.groups()
    md = MonthDay(
        MONTHS[month], int(day), int(year) if year else None, f"{month} {day}" + (f", {year}" if year else "")
    )
    if md.on(md.year or 2024) is None:  # 2024 is a leap year: Feb 29 is a real date
        return None
    return md, int(upvotes) if upvotes is not None else None


def parse_page_date(line: str) -> MonthDay | None:
    """A date line without upvotes (its raw text is then the stripped line)."""
    parsed = parse_date_line(line)
    return parsed[0] if parsed is not None and parsed[1] is None else None


def first_date(pattern: re.Pattern, text: str) -> dt.date | None:
    """The first match of `pattern` (groups year, month, day) that is a real date (not 2024-02-31)."""
    for m in pattern.finditer(text):
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            continue
    return None


def filename_date(name: str) -> dt.date | None:
    return first_date(_FILENAME_DATE, name)


def infer_page_date(
    page: MonthDay | None, printed_years: list[int], file_name: str, mtime: dt.datetime | None
) -> tuple[dt.date | None, str | None]:
    """The page's full date and which evidence gave its year (`printed`, `content`, `filename`, `mtime`)."""
    if page is None:
        return None, None
    if page.year is not None:
        return page.on(page.year), "printed"
    floor = max(printed_years) + 1 if printed_years else None
    named = filename_date(file_name)
    if named is not None and (floor is None or named.year >= floor) and (d := page.on(named.year)):
        return d, "filename"
    if floor is not None and (d := page.on(floor)):
        return d, "content"
    if mtime is not None:  # the latest year in which the page's month-day is not after mtime
        year = mtime.year
        while (d := page.on(year)) is None or d > mtime.date():
            year -= 1
        return d, "mtime"
    return None, None


def infer_entry_date(md: MonthDay, page_date: dt.date | None) -> dt.date | None:
    """Rule 3: yearless dates take the page's year, or the year before if they fall after the page date."""
    if md.year is not None:
        return md.on(md.year)
    if page_date is None:
        return None
    return md.on(page_date.year - ((md.month, md.day) > (page_date.month, page_date.day)))
