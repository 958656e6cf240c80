"""The README's "From Python" example runs as written, and the public API is what it says."""

from __future__ import annotations

import contextlib
import io
import re
import struct
from pathlib import Path

import numpy as np
import pytest

import gradsim.engine

README = Path(__file__).resolve().parents[1] / "README.md"


def from_python_snippet() -> str:
    """The first ```python block of the README's "From Python" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's From Python section has no python block"
    return match.group(1)


def test_readme_snippet_runs_and_writes_its_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    output = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(output):
        exec(compile(from_python_snippet(), "README.md", "exec"), namespace)  # noqa: S102
    config = namespace["config"]
    last = namespace["last"]
    lines = output.getvalue().splitlines()
    # The shape it prints is the config's (layers, time steps).
    assert lines[0] == str((config.num_layers, config.seq_len))  # type: ignore[attr-defined]
    # The printed table is the record's own first and last columns.
    expected = str(last.grad_norms[:, [0, -1]])  # type: ignore[attr-defined]
    assert "\n".join(lines[1 : 1 + expected.count("\n") + 1]) == expected
    # The diagnosis of a sigmoid run says it vanishes.
    assert "vanishing" in lines[-1]
    png = (tmp_path / "vanishing.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 400 and height >= 200
    assert np.all(np.isfinite(last.grad_norms))  # type: ignore[attr-defined]


def test_public_engine_api() -> None:
    names = set(gradsim.engine.__all__)
    wanted = ("SimConfig", "Simulation", "diagnose", "load_preset", "replay", "run_sweep", "critical_line")
    for name in wanted:
        assert name in names
    for name in names:
        assert getattr(gradsim.engine, name).__module__.startswith("gradsim.engine")
