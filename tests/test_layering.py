"""Layering: gradsim.engine and gradsim.io never import Qt or pyqtgraph.

Each check runs in a fresh interpreter, so modules imported by other tests (the UI tests load
PySide6) cannot hide or fake a result.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("PySide6", "shiboken6", "pyqtgraph")

# Imports every module of the given packages, then reports what it imported and which forbidden
# modules ended up in sys.modules.
PROBE = """
import importlib, json, pkgutil, sys

packages, extra = json.loads(sys.argv[1])
forbidden = tuple(json.loads(sys.argv[2]))
imported = []
for package_name in packages:
    package = importlib.import_module(package_name)
    imported.append(package_name)
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
for name in extra:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
print(json.dumps({"imported": imported, "forbidden": loaded}))
"""


def probe(packages: list[str], extra: list[str] | None = None) -> dict[str, list[str]]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([packages, extra or []]), json.dumps(FORBIDDEN)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("package", ["gradsim.engine", "gradsim.io"])
def test_package_imports_no_qt(package):
    report = probe([package])
    assert report["forbidden"] == [], f"{package} pulls in {report['forbidden']}"


def test_probe_walks_every_engine_module():
    imported = set(probe(["gradsim.engine", "gradsim.io"])["imported"])
    expected = {
        f"gradsim.engine.{name}"
        for name in (
            "activations",
            "clipping",
            "config",
            "history",
            "initializers",
            "numerics",
            "optim",
            "presets",
            "records",
            "regime",
            "rnn",
            "simulation",
            "spectral",
            "tasks",
        )
    }
    assert expected <= imported
    assert "gradsim.io" in imported


def test_probe_notices_a_qt_import():
    # The check itself can fail: importing pyqtgraph alongside is reported.
    pytest.importorskip("pyqtgraph")
    report = probe(["gradsim.engine"], extra=["pyqtgraph"])
    assert "pyqtgraph" in report["forbidden"]


ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def lint_imports(config: str | None = None) -> subprocess.CompletedProcess[str]:
    """import-linter over the contracts of pyproject.toml (or of ``config``)."""
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
               "sys.exit(lint_imports_command())", "--no-cache"]  # fmt: skip
    if config is not None:
        command += ["--config", config]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_import_contracts_hold():
    # cli > ui > io > engine, and no Qt below the window (the contracts are in pyproject.toml).
    completed = lint_imports()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "0 broken" in completed.stdout


def test_import_contracts_can_fail(tmp_path):
    # The same tool, told that the engine must not import numpy, reports the contract broken.
    config = tmp_path / "contracts.ini"
    config.write_text(
        "[importlinter]\nroot_package = gradsim\ninclude_external_packages = True\n\n"
        "[importlinter:contract:numpy]\nname = no numpy\ntype = forbidden\n"
        "source_modules = gradsim.engine\nforbidden_modules = numpy\n"
    )
    completed = lint_imports(str(config))
    assert completed.returncode != 0
    assert "BROKEN" in completed.stdout
