"""File names made from what a user sees: a preset name or a run's label as a file-name part."""

from __future__ import annotations

import unicodedata

__all__ = ["slug"]


def slug(text: str) -> str:
    """``text`` as a file-name part: lower-case letters, digits and single dashes (``"run"`` if empty).

    Letters of any script are kept, accents included (``"Café run"`` -> ``"café-run"``, not
    ``"caf-run"``), in one Unicode form (NFC), so the same words always give the same name;
    everything else, path separators included, becomes a dash.
    """
    cleaned = "".join(char if char.isalnum() else "-" for char in unicodedata.normalize("NFC", text.lower()))
    return "-".join(part for part in cleaned.split("-") if part) or "run"
