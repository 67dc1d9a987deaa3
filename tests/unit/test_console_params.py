"""Console parameters: what parses, and what is a BadParameter (a 400, never a 500)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.console.params import MAX_ID, BadParameter, is_row_id, parse_day, parse_int
from bot.console.queue_query import QueueFilter, decode_cursor, encode_cursor


@pytest.mark.parametrize(("raw", "value"), [("", None), ("  ", None), ("0", 0), (" 42 ", 42)])
def test_ascii_integers_parse(raw: str, value: int | None) -> None:
    assert parse_int("n", raw) == value


@pytest.mark.parametrize(
    "raw", ["²", "１２", "-1", "+1", "1e3", "0x10", "99999999999999999999999", str(MAX_ID + 1)]
)
def test_integers_that_are_not_ascii_digits_in_range_are_refused(raw: str) -> None:
    with pytest.raises(BadParameter) as err:
        parse_int("min_days", raw)
    assert err.value.name == "min_days"


def test_integer_bounds_are_the_callers() -> None:
    assert parse_int("n", "9999", maximum=9_999) == 9999
    with pytest.raises(BadParameter):
        parse_int("n", "10000", maximum=9_999)
    with pytest.raises(BadParameter):
        parse_int("n", "0", minimum=1)


@pytest.mark.parametrize(("raw", "day"), [("", None), ("2026-11-20", date(2026, 11, 20))])
def test_days_parse(raw: str, day: date | None) -> None:
    assert parse_day("from", raw) == day


@pytest.mark.parametrize(
    "raw",
    [
        "9999-12-31",
        "0000-00-00",
        "1999-12-31",
        "3000-01-01",
        "2026-02-30",
        "２０２６-01-01",
        "2026-1-1",
    ],
)
def test_days_out_of_range_or_form_are_refused(raw: str) -> None:
    with pytest.raises(BadParameter):
        parse_day("to", raw)


def test_row_ids_beyond_an_integer_are_no_row() -> None:
    assert is_row_id(1) and is_row_id(MAX_ID) and not is_row_id(MAX_ID + 1)


def test_queue_cursor_round_trips_and_junk_is_none() -> None:
    at = datetime(2026, 11, 20, 3, 0, 1, 5, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, 7)) == (at, 7)
    for junk in ("junk", "20261120T030001.000005_99999999999999999999", "20261120T030001_1", "x_²"):
        assert decode_cursor(junk) is None


@pytest.mark.parametrize(
    ("args", "name"),
    [({"min_days": "²"}, "min_days"), ({"before": "junk"}, "before"), ({"after": "1_1"}, "after")],
)
def test_queue_filter_refuses_unreadable_numbers_and_cursors(
    args: dict[str, str], name: str
) -> None:
    with pytest.raises(BadParameter) as err:
        QueueFilter.from_args(args)
    assert err.value.name == name


def test_queue_filter_still_ignores_choices_not_on_the_list() -> None:
    f = QueueFilter.from_args({"verdict": "bogus", "status": "sent", "min_days": "5"})
    assert (f.verdict, f.status, f.min_days) == ("", "", 5)
    decided = QueueFilter.from_args({"status": "approved"})  # decided ones can be found too
    assert decided.status == "approved"
