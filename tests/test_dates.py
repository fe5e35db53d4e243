"""The year-inference rule, including pages dated in early January."""

import datetime as dt

import pytest

from paperlake.dates import filename_date, infer_entry_date, infer_page_date, parse_date_line, parse_page_date


def md(text: str):
    return parse_page_date(text)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Oct 22, 2024", ((10, 22, 2024), None)),
        ("Dec 31, 2024 1", ((12, 31, 2024), 1)),
        ("Dec 18 2", ((12, 18, None), 2)),
        ("Oct 3", ((10, 3, None), None)),
        ("Feb 30", None),
        ("Octo 3", None),
        ("Oct 3, 24", None),
    ],
)
def test_parse_date_line(line, expected):
    got = parse_date_line(line)
    if expected is None:
        assert got is None
    else:
        (m, d, y), up = expected
        assert (got[0].month, got[0].day, got[0].year, got[1]) == (m, d, y, up)


def test_page_year_from_printed_years_filename_and_mtime():
    page = md("Nov 13")
    mtime = dt.datetime(2027, 2, 1)
    assert infer_page_date(page, [2021, 2024], "x.txt", mtime) == (dt.date(2025, 11, 13), "content")
    assert infer_page_date(page, [2024], "cap_2026-11-13.txt", mtime) == (dt.date(2026, 11, 13), "filename")
    # a file name that contradicts the page (a year printed as 2024 means the page is after 2024)
    assert infer_page_date(page, [2024], "cap_20231113.txt", mtime) == (dt.date(2025, 11, 13), "content")
    # no evidence in the page or the name: the latest Nov 13 not after the file's mtime
    assert infer_page_date(page, [], "x.txt", mtime) == (dt.date(2026, 11, 13), "mtime")
    assert infer_page_date(page, [], "x.txt", dt.datetime(2026, 11, 12)) == (dt.date(2025, 11, 13), "mtime")
    assert infer_page_date(None, [2024], "x.txt", mtime) == (None, None)
    assert infer_page_date(md("Jan 5, 2023"), [], "x.txt", None) == (dt.date(2023, 1, 5), "printed")


def test_entry_dates_around_new_year():
    page = dt.date(2026, 1, 3)
    assert infer_entry_date(parse_date_line("Dec 30")[0], page) == dt.date(2025, 12, 30)
    assert infer_entry_date(parse_date_line("Jan 3")[0], page) == dt.date(2026, 1, 3)
    assert infer_entry_date(parse_date_line("Jan 2")[0], page) == dt.date(2026, 1, 2)
    assert infer_entry_date(parse_date_line("Dec 30, 2024")[0], page) == dt.date(2024, 12, 30)
    assert infer_entry_date(parse_date_line("Dec 30")[0], None) is None


def test_feb_29_only_in_leap_years():
    assert infer_entry_date(parse_date_line("Feb 29")[0], dt.date(2024, 3, 1)) == dt.date(2024, 2, 29)
    assert infer_entry_date(parse_date_line("Feb 29")[0], dt.date(2025, 3, 1)) is None


def test_filename_dates():
    assert filename_date("hf_2025-03-11.txt") == dt.date(2025, 3, 11)
    assert filename_date("20250311_daily.txt") == dt.date(2025, 3, 11)
    assert filename_date("000_7cb6f7359ec6334f.txt") is None
    assert filename_date("2025-13-40.txt") is None
