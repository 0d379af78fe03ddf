"""Training checkpoints under faults: a full disk, stale temporary files, the umask, an empty
``last_checkpoint`` tag, and one file (not two) for the final state."""

import errno
import os
import re
import shutil
from collections import namedtuple

import pytest
import torch

from videomt.checkpoint import CheckpointError, TrainingCheckpointer, remove_stale_temporary_files


def _checkpointer(folder, size=(3, 2)):
    return TrainingCheckpointer(torch.nn.Linear(*size), str(folder))


def test_checkpoints_follow_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        _checkpointer(tmp_path).save("model_0000004", iteration=4)
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "model_0000004.pth").st_mode & 0o777) == 0o664
    assert (os.stat(tmp_path / "last_checkpoint").st_mode & 0o777) == 0o664


def test_disk_full_before_writing_is_one_line_and_keeps_the_previous(tmp_path, monkeypatch):
    ckpt = _checkpointer(tmp_path, (1000, 1000))  # 3.8 MB of weights
    ckpt.save("model_0000004", iteration=4)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(CheckpointError) as e:
        ckpt.save("model_0000009", iteration=9)
    msg = str(e.value)
    on_disk = os.path.getsize(tmp_path / "model_0000004.pth") / 2**20  # the same state's file
    needed = float(re.search(r"needs about ([0-9.]+) MB", msg).group(1))
    assert abs(needed - on_disk) < 0.1 * on_disk, (needed, on_disk)
    assert msg.startswith(f"{tmp_path}: ") and "model_0000009.pth" in msg, msg
    assert "\n" not in msg
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000004.pth"]


def test_disk_full_during_the_write_is_one_line(tmp_path, monkeypatch):
    ckpt = _checkpointer(tmp_path)
    ckpt.save("model_0000004", iteration=4)

    def no_space(obj, f, *a, **k):
        f.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(CheckpointError, match="not enough disk space to save model_0000009.pth"):
        ckpt.save("model_0000009", iteration=9)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000004.pth"]


def test_stale_temporary_files_are_removed(tmp_path):
    _checkpointer(tmp_path).save("model_0000004", iteration=4)
    stale = [tmp_path / ".model_0000009.pth.abc123.tmp", tmp_path / ".last_checkpoint.x1.tmp"]
    for p in stale:
        p.write_bytes(b"partial")
    (tmp_path / "notes.tmp").write_text("not ours")  # not a hidden temporary checkpoint file
    removed = remove_stale_temporary_files(str(tmp_path))
    assert sorted(removed) == sorted(str(p) for p in stale)
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000004.pth", "notes.tmp"]


def test_empty_last_checkpoint_names_the_tag_and_the_checkpoints(tmp_path):
    _checkpointer(tmp_path).save("model_0000004", iteration=4)
    (tmp_path / "last_checkpoint").write_text("  \n")
    fresh = _checkpointer(tmp_path)
    assert fresh.has_checkpoint()
    with pytest.raises(CheckpointError) as e:
        fresh.get_checkpoint_file()
    msg = str(e.value)
    assert f"{tmp_path / 'last_checkpoint'} is empty" in msg and "model_0000004.pth" in msg, msg
    assert "not found" not in msg


def test_final_checkpoint_replaces_the_periodic_save_of_the_last_iteration(tmp_path):
    from types import SimpleNamespace

    from videomt.engine.hooks import PeriodicCheckpointer

    hook = PeriodicCheckpointer(_checkpointer(tmp_path), period=4, max_iter=8)
    hook.trainer = SimpleNamespace(iter=0, stop_requested=False)
    for it in range(8):
        hook.trainer.iter = it
        hook.after_step()
    assert sorted(os.listdir(tmp_path)) == [
        "last_checkpoint",
        "model_0000003.pth",
        "model_final.pth",
    ]
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"
    fresh = _checkpointer(tmp_path)
    assert fresh.load(fresh.get_checkpoint_file())["iteration"] == 7


def test_disk_full_during_training_is_the_error_reported(tmp_path, monkeypatch):
    """The final metrics flush on the same full disk must not replace the checkpoint's error."""
    import errno as errno_module

    from train_fixtures import tiny_cfg

    from videomt.engine.events import JSONWriter
    from videomt.engine.trainer import Trainer

    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))
    trainer = Trainer(tiny_cfg(tmp_path / "full", **{"SOLVER.CHECKPOINT_PERIOD": 2}))
    trainer.resume_or_load(resume=False)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))

    def no_space(self, storage):
        raise OSError(errno_module.ENOSPC, "No space left on device")

    monkeypatch.setattr(JSONWriter, "write", no_space)
    with pytest.raises(CheckpointError, match="model_0000001.pth"):
        trainer.train()
