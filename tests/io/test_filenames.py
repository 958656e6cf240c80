"""File-name parts from what the user sees: one ``slug`` for snapshots, bundles and saved configs."""

from __future__ import annotations

import pytest

from gradsim.io.filenames import slug


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Exploding: large weights!", "exploding-large-weights"),
        ("vanishing-sigmoid", "vanishing-sigmoid"),
        ("Café run", "café-run"),  # accents are letters: not "caf-run"
        ("Cafe\u0301 run", "café-run"),  # the same words typed decomposed give the same name
        ("Градиент 2", "градиент-2"),
        ("../../etc/passwd", "etc-passwd"),  # no path separators or dot-dot
        ("a\\b:c*d?e", "a-b-c-d-e"),
        ("  --  ", "run"),
        ("", "run"),
    ],
)
def test_slug(text: str, expected: str) -> None:
    assert slug(text) == expected
    assert slug(slug(text)) == slug(text)
