"""pyproject.toml lists every package, so `pip install .` (not editable) ships all of gradsim."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def listed_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(config["tool"]["setuptools"]["packages"])


def test_every_python_package_is_listed() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "gradsim").rglob("__init__.py")
    }
    assert found <= listed_packages(), f"add to pyproject.toml packages: {sorted(found - listed_packages())}"


def test_every_resource_folder_is_listed_with_its_files() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = config["tool"]["setuptools"]["package-data"]
    for folder in (ROOT / "resources").iterdir():
        if not folder.is_dir() or folder.name.startswith(("_", ".")):
            continue
        name = f"gradsim.resources.{folder.name}"
        assert name in listed_packages(), f"add {name} to pyproject.toml packages"
        patterns = package_data.get(name, [])
        for file in folder.iterdir():
            assert any(file.match(pattern) for pattern in patterns), f"{file.name} not in {name} package-data"
