"""What the subcommands share (:mod:`gradsim.cli.common`): the progress bar and the number types."""

from __future__ import annotations

import argparse
import io

import pytest

from gradsim.cli import common as cli_common


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_throttled_and_erases_itself() -> None:
    stream = _Terminal()
    bar = cli_common.ProgressBar(50, stream, interval=3600.0, width=10)
    for done in range(1, 51):
        bar.update(done, 0.5)
    bar.close()
    frames = stream.getvalue().split("\r")[1:]
    # First update and the final one are drawn; everything between is throttled away.
    assert frames[0] == "[----------] 1/50  loss 0.5"
    assert frames[1] == "[##########] 50/50  loss 0.5"
    assert frames[2:] == [" " * len(frames[1]), ""]


def test_progress_bar_stays_silent_off_a_terminal() -> None:
    stream = io.StringIO()
    bar = cli_common.ProgressBar(5, stream, interval=0.0)
    for done in range(1, 6):
        bar.update(done, 1.0)
    bar.close()
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("parse", "text", "value_or_message"),
    [
        (cli_common.positive_int, "3", 3),
        (cli_common.positive_int, "0", "must be at least 1 (got 0)"),
        (cli_common.positive_int, "1.5", "must be a whole number (got '1.5')"),
        (cli_common.count, "0", 0),
        (cli_common.count, "-1", "must be 0 or more (got -1)"),
        (cli_common.count, "x", "must be a whole number (got 'x')"),
        (cli_common.days, "0.5", 0.5),
        (cli_common.days, "nan", "must be a number of days, 0 or more (got 'nan')"),
        (cli_common.days, "-3", "must be a number of days, 0 or more (got '-3')"),
        (cli_common.days, "soon", "must be a number of days (got 'soon')"),
        (cli_common.frames_per_second, "100", 100.0),
        (cli_common.frames_per_second, "0", "must be above 0 and at most 100 (got 0)"),
        (cli_common.frames_per_second, "inf", "must be above 0 and at most 100 (got inf)"),
        (cli_common.frames_per_second, "fast", "must be a number (got 'fast')"),
    ],
)
def test_number_types_take_their_range_and_name_what_they_got(parse, text, value_or_message) -> None:
    if isinstance(value_or_message, str):
        with pytest.raises(argparse.ArgumentTypeError) as raised:
            parse(text)
        assert str(raised.value) == value_or_message
    else:
        assert parse(text) == value_or_message
