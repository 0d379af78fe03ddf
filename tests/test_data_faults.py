"""Dataset faults reach the user as one line naming the file: wrong-schema JSON values, and
errors raised inside data-loader worker processes."""

import copy
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from videomt.data.build import WorkerErrorLoader, build_train_loader
from videomt.data.catalog import DatasetError
from videomt.data.ytvis import load_ytvis_json


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from videomt.data.synthetic import ensure_synthetic

    folder = ensure_synthetic("synthetic_vis_val", str(tmp_path_factory.mktemp("datasets")))
    with open(os.path.join(folder, "annotations.json")) as f:
        return folder, json.load(f)


def _first_video(g):
    return g["videos"][0]


def _first_annotation(g):
    return g["annotations"][0]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda g: _first_video(g).update(file_names=[1, 2]), "'file_names' must be a list of"),
        (
            lambda g: _first_video(g).update(
                file_names=[[n] for n in _first_video(g)["file_names"]]
            ),
            "'file_names' must be a list of",
        ),
        (
            lambda g: _first_annotation(g).update(iscrowd="yes"),
            "'iscrowd' must be 0 or 1, got 'yes'",
        ),
        (lambda g: _first_annotation(g).update(iscrowd=None), "'iscrowd' must be 0 or 1, got None"),
        (
            lambda g: _first_annotation(g).update(
                bboxes=["x"] * len(_first_annotation(g)["segmentations"])
            ),
            "a bbox must be 4 numbers",
        ),
    ],
)
def test_wrong_schema_values_are_one_line_naming_the_file(synthetic, tmp_path, change, message):
    folder, gt = synthetic
    bad = copy.deepcopy(gt)
    change(bad)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(DatasetError) as e:
        load_ytvis_json(str(path), os.path.join(folder, "JPEGImages"))
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def unreadable_frame(video: dict, rng=None) -> dict:
    """A mapper that fails as reading a damaged frame does (module level: workers import it)."""
    raise DatasetError(f"{video['file_names'][0]}: cannot decode the image (truncated file?)")


@pytest.mark.parametrize("workers", [0, 1])
def test_loader_worker_errors_keep_the_file_name(tmp_path, workers):
    from train_fixtures import tiny_cfg

    cfg = tiny_cfg(tmp_path, **{"DATALOADER.NUM_WORKERS": workers})
    video = {"file_names": ["/data/v1/00000.jpg"], "annotations": [[{"iscrowd": 0}]]}
    loader = build_train_loader(cfg, datasets=[[video]], mappers=[unreadable_frame])
    with pytest.raises(DatasetError) as e:
        next(iter(loader))
    assert str(e.value) == "/data/v1/00000.jpg: cannot decode the image (truncated file?)"


class _SlowItems(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        time.sleep(0.3)
        return i


def test_sigterm_to_the_job_leaves_the_loader_working():
    """A cluster's SIGTERM reaches the whole process group, loader workers included, while the
    main process may be waiting for a batch: the workers must keep serving it (the trainer
    finishes the step, saves and stops) instead of leaving it to fail with "DataLoader worker
    exited unexpectedly"."""
    loader = WorkerErrorLoader(_SlowItems(), batch_size=1, num_workers=1)
    batches = iter(loader)
    assert next(batches).tolist() == [0]
    for worker in batches._batches._workers:
        os.kill(worker.pid, signal.SIGTERM)
    assert [next(batches).item() for _ in range(3)] == [1, 2, 3]


EXIT_WITH_A_SIGNALLED_WORKER = """
import os, signal, sys, time
import torch
from videomt.data.build import WorkerErrorLoader

class Items(torch.utils.data.Dataset):
    def __len__(self):
        return 4
    def __getitem__(self, i):
        time.sleep(0.1)
        return i

batches = iter(WorkerErrorLoader(Items(), batch_size=1, num_workers=1))
next(batches)
for worker in batches._batches._workers:
    os.kill(worker.pid, signal.SIGTERM)
time.sleep(0.5)
print("exiting with a live loader", flush=True)
sys.exit(143)
"""


def test_workers_that_ignored_sigterm_still_end_with_the_main_process(tmp_path):
    """The workers that kept serving through the job's SIGTERM end when their main process
    exits without closing its loader (a training stopped by the signal): the process ends with
    its own exit status, its output closed, instead of hanging on a worker."""
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_WITH_A_SIGNALLED_WORKER],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 143, proc.stderr[-2000:]
    assert proc.stdout == "exiting with a live loader\n"
    assert "Traceback" not in proc.stderr and "killed by signal" not in proc.stderr, proc.stderr
