"""Scaffolding: this feature's module is being written; install() adds nothing yet."""

from __future__ import annotations

from typing import Any


def install(window: Any) -> None:
    """Add this feature to window (nothing yet)."""
    del window
