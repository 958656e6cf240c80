"""Export run data without a window: the memory estimate, the replay, the writer and the
messages of the worker job. The menu, the memory question and the progress dialog are in
test_file_actions.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import small_config

from gradsim.engine.simulation import PREACTIVATION_SAMPLE
from gradsim.io.runexport import read_json, read_npz
from gradsim.ui.features.files import export_job
from gradsim.ui.features.files.export_actions import MEMORY_LIMIT
from gradsim.ui.features.files.export_job import (
    ExportCancelled,
    ExportJob,
    ExportWorker,
    estimate_bytes,
    replay_records,
    write_records,
)

SMALL = small_config(seq_len=10, activation="tanh", seed=5)


def test_memory_estimate():
    # (L, T) grad norms and mean derivatives, plus a fixed part per record; NPZ adds the samples
    # (L, 2048) and stacks everything once more.
    per_record = 2 * 2 * 10 * 8 + export_job.RECORD_OVERHEAD
    assert estimate_bytes(SMALL, 1000, ".csv") == 1000 * per_record
    assert estimate_bytes(SMALL, 1000, ".npz") == 1000 * 2 * (per_record + 2 * 2048 * 8)
    big = dataclasses.replace(SMALL, num_layers=4, seq_len=200)
    assert estimate_bytes(big, 100_000, ".json") > MEMORY_LIMIT > estimate_bytes(big, 1000, ".npz")
    assert estimate_bytes(SMALL, -3, ".csv") == 0


def test_replay_keeps_the_iterations_asked_for_with_samples_only_for_npz(tmp_path, engine_records):
    expected = engine_records(SMALL, 6)
    kept = replay_records(ExportJob(tmp_path / "run.csv", SMALL, 6, frozenset({2, 5})))
    assert [record.iteration for record in kept] == [2, 5]
    for want, got in zip([expected[1], expected[4]], kept, strict=True):
        np.testing.assert_array_equal(got.grad_norms, want.grad_norms)
        assert got.loss == want.loss
        assert got.preactivation_samples.shape == (2, 0)
    every = replay_records(ExportJob(tmp_path / "run.NPZ", SMALL, 6))
    assert [record.iteration for record in every] == [1, 2, 3, 4, 5, 6]
    assert every[0].preactivation_samples.shape == (2, PREACTIVATION_SAMPLE)
    np.testing.assert_array_equal(every[-1].preactivation_samples, expected[-1].preactivation_samples)


def test_replay_reports_progress_and_stops_when_cancelled(tmp_path, job_context):
    progress: list[tuple[int, int]] = []
    replay_records(ExportJob(tmp_path / "run.csv", SMALL, 4), progress=lambda *done: progress.append(done))
    assert progress[0] == (1, 4)  # the first step is reported at once, later ones by time
    # Polled once per step (4) and once after the replay (the 5th).
    for cancel_after in (0, 2, 4):
        with pytest.raises(ExportCancelled):
            replay_records(ExportJob(tmp_path / "run.csv", SMALL, 4), job_context(cancel_after).is_cancelled)


def test_write_records_by_extension_and_never_an_unknown_one(tmp_path, engine_records):
    records = engine_records(SMALL, 2)
    write_records(tmp_path / "run.json", records, SMALL)
    write_records(tmp_path / "run.npz", records, SMALL)
    assert [r.iteration for r in read_json(tmp_path / "run.json").records] == [1, 2]
    assert read_npz(tmp_path / "run.npz").config == SMALL
    with pytest.raises(ValueError, match=r"run\.txt: use \.csv, \.json or \.npz"):
        write_records(tmp_path / "run.txt", records, SMALL)
    assert not (tmp_path / "run.txt").exists()


def test_worker_messages(tmp_path, job_context):
    context = job_context()
    ExportWorker(ExportJob(tmp_path / "run.csv", SMALL, 3, frozenset({1, 3}))).run(context)  # type: ignore[arg-type]
    assert context.messages[0] == ("progressed", 1, 3)
    assert context.messages[-2:] == [("writing",), ("finished", str(tmp_path / "run.csv"), 2)]
    context = job_context(cancel_after=1)
    ExportWorker(ExportJob(tmp_path / "other.csv", SMALL, 3)).run(context)  # type: ignore[arg-type]
    assert context.messages[-1] == ("cancelled",) and not (tmp_path / "other.csv").exists()
    context = job_context()
    ExportWorker(ExportJob(tmp_path / "run.txt", SMALL, 1)).run(context)  # type: ignore[arg-type]
    kind, message = context.messages[-1]
    assert kind == "failed" and "run.txt" in str(message)
