"""The hardened reader: every hostile file becomes one FileReadError line, fast, without a hang."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gradsim.engine import safe_read
from gradsim.engine.formatting import format_bytes
from gradsim.engine.safe_read import (
    CONFIG_LIMIT,
    MAX_DEPTH,
    FileReadError,
    load_npz,
    parse_json,
    parse_toml,
    read_bytes,
    read_text,
)


def reason(call, *args) -> str:
    with pytest.raises(FileReadError) as caught:
        call(*args)
    text = caught.value.reason
    assert "\n" not in text and len(text) < 300, text
    return text


def test_reads_a_regular_file_exactly(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_bytes(b"\xef\xbb\xbfhidden_size = 3\n")
    assert read_bytes(path, 100) == b"\xef\xbb\xbfhidden_size = 3\n"
    assert read_text(path, 100) == "hidden_size = 3\n"  # the BOM is dropped
    assert read_bytes(path, 19) == path.read_bytes()  # exactly at the limit is fine


def test_missing_folder_and_device_are_refused_by_kind(tmp_path: Path) -> None:
    assert reason(read_bytes, tmp_path / "absent.toml", 100) == "no such file"
    assert reason(read_bytes, tmp_path, 100) == "is a folder, not a file"
    if os.path.exists("/dev/null"):
        assert reason(read_bytes, "/dev/null", 100) == "is a device, not a file"
    assert reason(read_bytes, tmp_path / "bad\0name", 100) == "the file name is not valid"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    # In a child with a timeout: a regression would block in open() forever, not fail.
    pipe = tmp_path / "config.toml"
    os.mkfifo(pipe)
    code = (
        "import sys\nfrom gradsim.engine.safe_read import read_bytes, FileReadError\n"
        "try:\n    read_bytes(sys.argv[1], 100)\nexcept FileReadError as e:\n    print(e.reason)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(pipe)], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "is a named pipe, not a file", done.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_pipe_swapped_in_after_the_check_is_caught_on_the_open_descriptor(
    tmp_path: Path, monkeypatch
) -> None:
    # stat sees a regular file; by the time of open it is a pipe. O_NONBLOCK keeps open() from
    # waiting for a writer, and fstat on the descriptor refuses it.
    pipe = tmp_path / "swap.toml"
    os.mkfifo(pipe)
    regular = os.stat(__file__)
    monkeypatch.setattr(safe_read.os, "stat", lambda path: regular)
    assert reason(read_bytes, pipe, 1 << 30) == "is a named pipe, not a file"


def test_size_limit_names_the_size_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_bytes(b"#" * (CONFIG_LIMIT + 1))
    text = reason(read_bytes, path, CONFIG_LIMIT, "a config")
    assert text == "is 1.0 MiB, too large for a config (the limit is 1.0 MiB)"
    path.write_bytes(b"#" * (3 << 20))
    assert reason(read_bytes, path, CONFIG_LIMIT, "a config").startswith("is 3.0 MiB, too large for a config")


def test_files_that_report_no_size_are_still_held_to_the_limit() -> None:
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("no /proc here")
    assert os.stat(status).st_size == 0  # so only the read can enforce the limit
    assert b"Name:" in read_bytes(status, 1 << 20)
    assert reason(read_bytes, status, 16, "a config").startswith(
        "is more than 16 bytes, too large for a config"
    )


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.toml"
    path.write_bytes(b"title = '\xe9'\n")
    assert reason(read_text, path, 100) == "is not UTF-8 text (byte 9)"


# -- nesting, digits ------------------------------------------------------------------------------

DEEP = 100_000


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * DEEP + "]" * DEEP,  # arrays
        "a = " + "{b = " * DEEP + "1" + "}" * DEEP,  # inline tables
        "a = [" + "{b = [" * DEEP + "]}" * DEEP + "]",  # both
        "a." * DEEP + "b = 1",  # dotted keys: no bracket at all, checked on the parsed value
        "[" + "a." * DEEP + "b]\nc = 1",  # a table header of dotted keys
    ],
    ids=["arrays", "inline-tables", "mixed", "dotted-keys", "table-header"],
)
def test_deep_toml_is_refused_as_too_deep(text: str) -> None:
    assert reason(parse_toml, text) == f"is nested more than {MAX_DEPTH} levels deep"


@pytest.mark.parametrize(
    "text",
    ["[" * DEEP + "]" * DEEP, '{"a": ' * DEEP + "1" + "}" * DEEP, '[{"a": ' * DEEP + "1" + "}]" * DEEP],
    ids=["arrays", "objects", "mixed"],
)
def test_deep_json_is_refused_as_too_deep(text: str) -> None:
    assert reason(parse_json, text) == f"is nested more than {MAX_DEPTH} levels deep"


def test_nesting_at_the_limit_is_fine_and_brackets_in_strings_do_not_count() -> None:
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) == eval("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    reason(parse_json, "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    brackets = "[" * 500
    assert parse_json(json.dumps({"a": brackets, "b": 'x\\"[[[' + "\\\\"})) == {
        "a": brackets,
        "b": 'x\\"[[[\\\\',
    }
    assert parse_toml(f'a = "{brackets}"\nb = \'{brackets}\'\n# {brackets}\nc = """\n{brackets}"""\n') == {
        "a": brackets,
        "b": brackets,
        "c": brackets,
    }


@pytest.mark.parametrize("parse", [parse_json, parse_toml], ids=["json", "toml"])
def test_integers_past_the_digit_limit_are_one_line(parse) -> None:
    digits = "9" * 5000
    text = f'{{"a": {digits}}}' if parse is parse_json else f"a = {digits}"
    assert reason(parse, text) == "holds a number of more than 4300 digits"


def test_malformed_documents_say_where() -> None:
    assert reason(parse_json, '{"a": 1,}').startswith("malformed JSON: ")
    assert "line 1" in reason(parse_json, '{"a": 1,}')
    assert reason(parse_toml, "a = = 1").startswith("malformed TOML: ")


def test_two_million_toml_keys_are_refused_by_size(tmp_path: Path) -> None:
    # The 26-30 s case: refused from the file size alone, before any parsing.
    path = tmp_path / "keys.toml"
    with open(path, "w", encoding="ascii") as handle:
        handle.writelines(f"k{i} = 1\n" for i in range(2_000_000))
    size = path.stat().st_size
    assert reason(safe_read.read_toml, path, CONFIG_LIMIT, "a config") == (
        f"is {format_bytes(size)}, too large for a config (the limit is 1.0 MiB)"
    )


# -- NPZ ------------------------------------------------------------------------------------------


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_npz_round_trip_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    path.write_bytes(npz_bytes(x=np.arange(10.0), name=np.array("run")))
    arrays = load_npz(path, 1 << 20)
    np.testing.assert_array_equal(arrays["x"], np.arange(10.0))
    assert str(arrays["name"][()]) == "run"
    assert reason(load_npz, path, 100).startswith("is ")


def test_empty_truncated_and_foreign_npz(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    path.write_bytes(b"")
    assert reason(load_npz, path, 1 << 20) == "is empty, not an NPZ archive"
    whole = npz_bytes(x=np.arange(1000.0))
    for cut in (10, len(whole) // 2, len(whole) - 30):
        path.write_bytes(whole[:cut])
        assert reason(load_npz, path, 1 << 20).startswith("not a valid NPZ archive")
    path.write_bytes(b"just text")
    assert reason(load_npz, path, 1 << 20).startswith("not a valid NPZ archive")


def test_npz_with_pickled_objects_or_non_arrays_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    buffer = io.BytesIO()
    np.savez(buffer, x=np.array([{"a": 1}], dtype=object))
    path.write_bytes(buffer.getvalue())
    assert reason(load_npz, path, 1 << 20) == "array 'x' holds Python objects (not loaded)"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    assert reason(load_npz, path, 1 << 20) == "not a valid NPZ archive (member 'notes.txt' is not an array)"


def test_npz_header_that_promises_more_than_the_member_holds(tmp_path: Path) -> None:
    # A 100-byte member whose header claims 10**12 float64: refused before numpy allocates.
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", header.getvalue() + b"\0" * 100)
    assert reason(load_npz, path, 1 << 20).startswith("array 'x' claims 7.3 TiB but holds")


def test_compressed_members_are_held_to_their_uncompressed_size(tmp_path: Path) -> None:
    # A deflate bomb: 64 MiB of zeros that compress to a few kilobytes.
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x=np.zeros(8 << 20))
    assert path.stat().st_size < 1 << 20
    assert reason(load_npz, path, 1 << 20, "a run export").startswith("holds 64.0 MiB of arrays, too large")
