"""What gradsim's file readers share: a refused file as the reader's error, and the format marker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradsim.engine.safe_read import FileReadError, read_json
from gradsim.io.reading import check_marker, npz_marker, read_or_raise


class _KindError(ValueError):
    """A file kind's own error type, as RunFileError and SweepFileError are."""


def test_read_or_raise_gives_the_file_and_its_content_or_the_kinds_error(tmp_path: Path) -> None:
    good = tmp_path / "a.json"
    good.write_text('{"a": 1}', encoding="utf-8")
    assert read_or_raise(str(good), read_json, 100, "a test file", _KindError) == (good, {"a": 1})
    large = tmp_path / "b.json"
    large.write_text('{"a": "' + "x" * 200 + '"}', encoding="utf-8")
    with pytest.raises(FileReadError) as refused:
        read_json(large, 100, "a test file")
    with pytest.raises(_KindError) as caught:
        read_or_raise(large, read_json, 100, "a test file", _KindError)
    # "<file>: <the reader's reason>", without the FileReadError behind it.
    assert str(caught.value) == f"{large}: {refused.value.reason}" and "100" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_npz_marker_reads_format_and_version_or_none() -> None:
    assert npz_marker({"format": np.array("gradsim-run"), "version": np.array(1)}) == ("gradsim-run", 1)
    assert npz_marker({"x": np.zeros(2)}) == (None, None)
    with pytest.raises(ValueError):
        npz_marker({"format": np.array("gradsim-run"), "version": np.array("one")})


def test_check_marker_accepts_versions_up_to_the_newest_and_names_the_kind_otherwise() -> None:
    file, expected, words = Path("f.npz"), ("gradsim-x", 2), ("x file", "x format")
    for version in (1, 2):
        check_marker(file, ("gradsim-x", version), expected, words, _KindError)
    with pytest.raises(_KindError, match=r"^f\.npz: not a gradsim x file \(no format 'gradsim-x' marker\)$"):
        check_marker(file, ("other", 1), expected, words, _KindError)
    for version in (3, None):
        with pytest.raises(_KindError) as caught:
            check_marker(file, ("gradsim-x", version), expected, words, _KindError)
        assert (
            str(caught.value)
            == f"f.npz: written by a newer gradsim (x format {version}; this one reads up to 2)"
        )
