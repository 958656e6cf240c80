"""Reproducible bundles: what a bundle holds, its README, and the job that writes it all or nothing.

A bundle is a folder ``gradsim-<preset>-it<N>/`` with the pictures, the exact config, the whole
run's records (replayed: runs are deterministic) and a README saying how to reproduce them.
:class:`BundleJob` is captured on the GUI thread; :func:`write_bundle` replays and writes it in a
hidden folder renamed at the end (removed on any failure or cancel); :class:`BundleWorker` runs
it as a worker job. No widget here: :mod:`.snapshots` builds the job and shows the progress.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord
from gradsim.io.atomic import WriteError, atomic_write_bytes, atomic_write_text
from gradsim.io.configfile import config_to_toml
from gradsim.io.runexport import write_json, write_npz
from gradsim.ui.common import background
from gradsim.ui.common.naming import TARGET_LABELS
from gradsim.ui.common.workers import JobContext

# Replay progress is reported at most this often (steps), so the signal queue stays short.
_PROGRESS_EVERY = 10


def readme_text(
    config: SimConfig, iterations: int, preset: str, plots: tuple[str, ...], pinned: list[str]
) -> str:
    """The README.txt of a bundle: what each file is and how to reproduce the figures."""
    lines = [
        f"gradsim bundle: preset {preset}, {iterations} training iteration{'s' if iterations != 1 else ''}",
        "",
        "Reproduce the run (prints a summary; add --json/--npz/--csv to write the records):",
        f"    gradsim run --config config.toml --iterations {iterations}",
        "Reproduce the figures without a window:",
        f"    gradsim snapshot --config config.toml --iterations {iterations} --out dashboard.png",
        f"    gradsim snapshot --config config.toml --iterations {iterations} --plot gradient \\",
        "        --out gradient.svg",
        "Runs are deterministic: the same config and iteration count give the same numbers, bit for bit.",
        "",
        "Files",
        f"    {'config.toml':<36}the exact configuration of the run",
        f"    {'run.json':<36}every step record of the run (no pre-activation samples)",
        f"    {'run.npz':<36}the same records as numpy arrays, with the pre-activation samples",
        f"    {'dashboard.png':<36}the five plots as shown in the window",
    ]
    for key in plots:
        lines.append(f"    {f'{key}.png, {key}.svg':<36}{TARGET_LABELS[key]}")
    if pinned:
        lines += ["", "Pinned runs (the compare feature's references), one folder each under pinned/:"]
        lines += [f"    {name}" for name in pinned]
        lines.append("    config.toml and run.json (the pinned run's newest records as kept by the window)")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class PinnedPart:
    """A pinned run to write into a bundle: folder name, config, records."""

    folder: str
    label: str
    config: SimConfig
    records: list[StepRecord]


@dataclasses.dataclass(frozen=True)
class BundleJob:
    """Everything a bundle holds, captured on the GUI thread (the worker only computes and writes).

    Attributes
    ----------
    destination : the folder to create (must not exist)
    config, iterations : the run to replay and save
    files : file name -> content (the pictures, the README)
    pinned : pinned runs to add under ``pinned/``
    """

    destination: Path
    config: SimConfig
    iterations: int
    files: dict[str, bytes]
    pinned: tuple[PinnedPart, ...] = ()


class BundleCancelled(Exception):
    """The user cancelled the bundle."""


def write_bundle(
    job: BundleJob,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Replay the run and write the bundle folder, all or nothing.

    The folder is built under a hidden temporary name in the destination's parent folder and
    renamed to ``job.destination`` at the end; on any failure or cancel it is removed.

    Parameters
    ----------
    job : what to write
    cancelled : polled between training steps; True stops and removes everything
    progress : called with ``(steps done, steps in all)`` while replaying

    Raises
    ------
    BundleCancelled
        ``cancelled()`` became true.
    WriteError
        A file or the folder could not be written (nothing is left behind).
    """
    target = job.destination
    parent = target.parent
    if target.exists():
        raise WriteError(target, "a file or folder of that name exists")
    try:
        temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as error:
        reason = (
            "folder is not writable" if error.errno in (errno.EACCES, errno.EPERM) else str(error.strerror)
        )
        if not parent.is_dir():
            reason = f"folder {parent} does not exist"
        raise WriteError(target, reason, error.errno) from error
    try:
        records: list[StepRecord] = []
        for record in background.replay_beside_the_window(job.config, job.iterations):
            if cancelled():
                raise BundleCancelled()
            records.append(record)
            if progress is not None and (record.iteration % _PROGRESS_EVERY == 0):
                progress(record.iteration, job.iterations)
        if cancelled():
            raise BundleCancelled()
        atomic_write_text(temp / "config.toml", config_to_toml(job.config, header=_config_header(job)))
        write_json(temp / "run.json", records, job.config)
        write_npz(temp / "run.npz", records, job.config)
        for name, data in job.files.items():
            atomic_write_bytes(temp / name, data)
        for part in job.pinned:
            folder = temp / "pinned" / part.folder
            folder.mkdir(parents=True)
            header = f"gradsim pinned run: {part.label}"
            atomic_write_text(folder / "config.toml", config_to_toml(part.config, header=header))
            write_json(folder / "run.json", part.records, part.config)
        if cancelled():
            raise BundleCancelled()
        if target.exists():
            raise WriteError(target, "a file or folder of that name appeared meanwhile")
        os.rename(temp, target)
    except BaseException as error:
        shutil.rmtree(temp, ignore_errors=True)
        if isinstance(error, WriteError):
            # Name the file as the user will look for it, not inside the hidden temporary folder.
            with contextlib.suppress(ValueError):
                inside = Path(error.path).relative_to(temp)
                raise WriteError(target / inside, error.reason, error.errno) from error
        elif isinstance(error, OSError):
            raise WriteError(target, error.strerror or str(error), error.errno) from error
        raise
    return target


def _config_header(job: BundleJob) -> str:
    return (
        f"gradsim config of this bundle ({job.iterations} iterations).\n"
        f"Reproduce it with: gradsim run --config config.toml --iterations {job.iterations}"
    )


class BundleWorker(background.WritingJob[BundleJob]):
    """Runs :func:`write_bundle`: the job of a bundle's worker thread.

    Messages: those of :class:`~gradsim.ui.common.background.WritingJob`, with
    ``("finished", path)`` when the bundle is complete at ``path``.
    """

    cancelled_error = BundleCancelled

    def target(self) -> Path:
        """The bundle's folder."""
        return self.job.destination

    def write(self, context: JobContext) -> tuple[str]:
        """Replay the run and write the bundle; ``(path,)``."""
        path = write_bundle(self.job, context.is_cancelled, background.report_progress(context))
        return (str(path),)
