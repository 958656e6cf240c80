"""Can the window start here? A check that runs before Qt, so a missing library is one line.

Qt's X11 platform plugin (``libqxcb.so``) links a dozen small X libraries. On a minimal Linux
install some are absent (``libxcb-cursor0``, ``libxcb-icccm4``, ``libxcb-keysyms1`` were missing on
a fresh Debian machine), and Qt then aborts the process (SIGABRT) with "Could not load the Qt
platform plugin xcb". This module finds that out first, without importing Qt: it asks the
dynamic linker (``ldd``) which of the plugin's libraries cannot be found and names the Debian
packages that provide them. It also catches the other way Qt aborts at start: no display at all.

Nothing here imports Qt, so ``gradsim`` can print its message and exit non-zero in a few
milliseconds instead of crashing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# Debian/Ubuntu package of each library the xcb plugin and its Qt library link (by soname).
# Names not listed follow Debian's rule: the soname's stem plus its major version, with a
# hyphen between them when the stem ends in a digit (libxcb-util.so.1 -> libxcb-util1).
DEBIAN_PACKAGES: dict[str, str] = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}

# The xcb plugin's packages on Debian/Ubuntu, for the README and for the message when the
# plugin itself cannot be inspected.
XCB_PACKAGES = ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1")

_LDD_MISSING = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships the library ``soname`` (e.g. ``libxcb-icccm.so.4``)."""
    if soname in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[soname]
    stem, _, version = soname.partition(".so.")
    major = version.split(".")[0]
    if not major:
        return stem.lower()
    separator = "-" if stem[-1:].isdigit() else ""
    return f"{stem.lower()}{separator}{major}"


def xcb_plugin_path() -> Path | None:
    """``libqxcb.so`` of the installed PySide6, found without importing it (None if absent)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if candidate.is_file():
            return candidate
    return None


def missing_libraries(plugin: Path, ldd: str | None = None) -> list[str]:
    """Sonames the dynamic linker cannot find for ``plugin``, in ldd's order, each once.

    Empty when nothing is missing, and also when ``ldd`` is not available or fails (then Qt is
    left to try: the check must never stop a window that could open).
    """
    ldd = ldd or shutil.which("ldd")
    if ldd is None:
        return []
    try:
        completed = subprocess.run(
            [ldd, str(plugin)], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    names = _LDD_MISSING.findall(completed.stdout)
    return list(dict.fromkeys(names))


def uses_xcb(environ: Mapping[str, str]) -> bool:
    """Whether Qt tries its X11 (xcb) platform first in this environment on Linux."""
    platform = environ.get("QT_QPA_PLATFORM", "").strip()
    if platform:
        # "xcb", "xcb:option", or a list like "xcb;wayland" whose first choice it is (where it is
        # only a fallback, as in "wayland;xcb", Qt copes with a failure by itself).
        return platform.split(";")[0].strip().split(":")[0] == "xcb"
    # Without a setting, Qt 6 prefers Wayland in a Wayland session and X11 otherwise.
    wayland = bool(environ.get("WAYLAND_DISPLAY")) or environ.get("XDG_SESSION_TYPE") == "wayland"
    return not wayland


def display_problem(environ: Mapping[str, str] | None = None, plugin: Path | None = None,
                    ldd: str | None = None) -> str | None:  # fmt: skip
    """One line saying why the window cannot start here, or None if nothing stops it.

    Only Linux is checked (macOS and Windows ship what Qt needs). ``plugin`` and ``ldd`` are
    for tests; by default the installed PySide6's plugin and the system's ``ldd`` are used.
    """
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or not uses_xcb(environ):
        return None
    if not environ.get("DISPLAY"):
        return (
            "the window needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set; "
            "run gradsim in a desktop session (or over ssh -X), or use the headless commands "
            "(gradsim run, gradsim snapshot; see gradsim --help)"
        )
    plugin = plugin or xcb_plugin_path()
    if plugin is None:
        return None
    missing = missing_libraries(plugin, ldd)
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(debian_package(name) for name in missing))
    return (
        f"the window cannot start: Qt's X11 platform needs {', '.join(missing)}, which "
        f"{'is' if len(missing) == 1 else 'are'} not installed; on Debian/Ubuntu: "
        f"sudo apt-get install {packages}"
    )
