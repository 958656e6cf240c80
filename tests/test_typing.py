"""Types: mypy checks gradsim/ with the settings of pyproject.toml ([tool.mypy]) and finds nothing.

Run in a fresh interpreter, like the import contracts (tests/test_layering.py). A test that the
check can fail comes with it: the same settings on a file with a type error report the error.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mypy(*arguments: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m mypy`` in the repository root (its pyproject.toml), with ``arguments``."""
    command = [sys.executable, "-m", "mypy", *arguments]
    if cache is not None:
        command += ["--cache-dir", str(cache)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_gradsim_has_no_type_errors() -> None:
    completed = mypy()  # the files and flags of [tool.mypy]: all of gradsim/
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.startswith("Success: no issues found in ")


def test_the_type_check_can_fail(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.py"
    wrong.write_text("def half(value: float) -> float:\n    return value / 2\n\n\nhalf('one')\n")
    completed = mypy(str(wrong), cache=tmp_path / "cache")
    assert completed.returncode == 1
    assert f'{wrong}:5: error: Argument 1 to "half" has incompatible type "str"' in completed.stdout
