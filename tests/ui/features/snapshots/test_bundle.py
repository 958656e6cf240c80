"""What a bundle holds and how it is written, without a window: the README, the all-or-nothing
writer (replay, files, pinned runs, cancel, failures) and the messages of its worker job.

The window's side (Ctrl+B, the progress dialog, pinned runs from the compare feature) is in
test_snapshots.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import small_config

from gradsim.io.atomic import WriteError
from gradsim.io.configfile import load_config
from gradsim.io.runexport import read_json, read_npz
from gradsim.ui.common.naming import TARGET_LABELS
from gradsim.ui.features.snapshots.bundle import (
    BundleCancelled,
    BundleJob,
    BundleWorker,
    PinnedPart,
    readme_text,
    write_bundle,
)

SMALL = small_config(activation="sigmoid", seed=2)


def listing(folder: Path) -> list[str]:
    """Every entry under ``folder``, hidden ones included."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty folder to write bundles into (``tmp_path`` also holds the test's settings)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


# -- the README ---------------------------------------------------------------------------------


def test_readme_names_the_iterations_every_plot_and_the_pinned_runs():
    text = readme_text(SMALL, 25, "exploding", ("gradient", "loss"), ["1-a", "2-b"])
    lines = text.splitlines()
    assert lines[0] == "gradsim bundle: preset exploding, 25 training iterations"
    assert "    gradsim run --config config.toml --iterations 25" in lines
    assert "    gradsim snapshot --config config.toml --iterations 25 --out dashboard.png" in lines
    assert f"    {'gradient.png, gradient.svg':<36}{TARGET_LABELS['gradient']}" in lines
    assert f"    {'loss.png, loss.svg':<36}{TARGET_LABELS['loss']}" in lines
    assert not any(line.startswith("    heatmap.png") for line in lines)
    assert lines.index("    1-a") + 1 == lines.index("    2-b")
    assert text.endswith("\n")


def test_readme_of_one_iteration_without_pins():
    text = readme_text(SMALL, 1, "custom", (), [])
    assert text.splitlines()[0] == "gradsim bundle: preset custom, 1 training iteration"
    assert "Pinned runs" not in text and "pinned/" not in text


# -- the writer ---------------------------------------------------------------------------------


def test_bundle_holds_the_config_the_replayed_records_files_and_pins(out, engine_records, assert_same_record):
    pinned_records = engine_records(SMALL.replace(activation="tanh"), 2)
    pin = PinnedPart("1-tanh", "tanh", SMALL.replace(activation="tanh"), pinned_records)
    job = BundleJob(out / "bundle", SMALL, 23, {"a.png": b"picture", "README.txt": b"hi"}, (pin,))
    progress: list[tuple[int, int]] = []
    path = write_bundle(job, progress=lambda done, total: progress.append((done, total)))
    assert path == out / "bundle"
    assert listing(out) == ["bundle"] + [
        f"bundle/{name}"
        for name in sorted(
            ["README.txt", "a.png", "config.toml", "run.json", "run.npz", "pinned", "pinned/1-tanh"]
            + ["pinned/1-tanh/config.toml", "pinned/1-tanh/run.json"]
        )
    ]
    assert (path / "a.png").read_bytes() == b"picture"
    assert load_config(path / "config.toml") == SMALL
    assert "--iterations 23" in (path / "config.toml").read_text()
    expected = engine_records(SMALL, 23)
    for want, got in zip(expected, read_npz(path / "run.npz").records, strict=True):
        assert_same_record(want, got)
    assert [r.iteration for r in read_json(path / "run.json").records] == list(range(1, 24))
    assert load_config(path / "pinned/1-tanh/config.toml") == SMALL.replace(activation="tanh")
    for want, got in zip(pinned_records, read_json(path / "pinned/1-tanh/run.json").records, strict=True):
        np.testing.assert_array_equal(got.grad_norms, want.grad_norms)
    assert progress == [(10, 23), (20, 23)]  # every tenth step, never past the last


def test_an_existing_destination_is_never_replaced(out):
    (out / "bundle").mkdir()
    (out / "bundle" / "mine.txt").write_text("keep")
    with pytest.raises(WriteError, match="exists"):
        write_bundle(BundleJob(out / "bundle", SMALL, 2, {}))
    assert listing(out) == ["bundle", "bundle/mine.txt"]


def test_a_missing_parent_folder_is_named(out):
    with pytest.raises(WriteError, match="does not exist") as caught:
        write_bundle(BundleJob(out / "gone" / "bundle", SMALL, 2, {}))
    assert Path(caught.value.path) == out / "gone" / "bundle"


# Polled once per replayed step (10), after the replay (11th) and after writing (12th).
@pytest.mark.parametrize("cancel_after", [0, 5, 10, 11])
def test_cancel_at_any_point_leaves_nothing(out, cancel_after, job_context):
    context = job_context(cancel_after)
    with pytest.raises(BundleCancelled):
        write_bundle(BundleJob(out / "bundle", SMALL, 10, {"a.png": b"x"}), context.is_cancelled)
    assert listing(out) == []


def test_a_failing_file_is_named_where_the_user_looks_and_nothing_is_left(out, monkeypatch):
    from gradsim.ui.features.snapshots import bundle

    def refuse(path: os.PathLike[str], data: bytes) -> None:
        raise WriteError(path, "the disk is full")

    monkeypatch.setattr(bundle, "atomic_write_bytes", refuse)
    with pytest.raises(WriteError) as caught:
        write_bundle(BundleJob(out / "bundle", SMALL, 2, {"a.png": b"x"}))
    assert Path(caught.value.path) == out / "bundle" / "a.png"
    assert listing(out) == []


# -- the worker job -----------------------------------------------------------------------------


def test_worker_reports_progress_then_the_path(out, job_context):
    context = job_context()
    BundleWorker(BundleJob(out / "bundle", SMALL, 20, {})).run(context)  # type: ignore[arg-type]
    assert context.messages == [
        ("progressed", 10, 20),
        ("progressed", 20, 20),
        ("finished", str(out / "bundle")),
    ]


def test_worker_reports_a_cancel_and_a_failure_as_messages(out, job_context):
    context = job_context(cancel_after=3)
    BundleWorker(BundleJob(out / "bundle", SMALL, 20, {})).run(context)  # type: ignore[arg-type]
    assert context.messages == [("cancelled",)]
    (out / "taken").mkdir()
    context = job_context()
    BundleWorker(BundleJob(out / "taken", SMALL, 2, {})).run(context)  # type: ignore[arg-type]
    ((kind, message),) = context.messages
    assert kind == "failed" and str(out / "taken") in message and "exists" in message
