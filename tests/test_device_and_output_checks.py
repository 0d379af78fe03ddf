"""The one device check and the one output-folder check that every CLI and the predictor use."""

import errno
import os
import tempfile

import pytest
import torch

from videomt.errors import UserError
from videomt.utils.device import DeviceError, resolve_device
from videomt.utils.files import OutputDirError, require_writable_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_resolve_device_accepts_what_exists():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu"), "--device") == torch.device("cpu")


@pytest.mark.parametrize(
    "name, message",
    [
        ("gpu", "--device: 'gpu' is not a device name (use cpu, cuda, cuda:N or mps)"),
        ("cuda:99", "--device is 'cuda:99' but"),
    ],
)
def test_resolve_device_names_the_flag_in_one_line(name, message):
    with pytest.raises(DeviceError) as e:
        resolve_device(name, "--device")
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
    assert isinstance(e.value, UserError)  # the CLIs print it as one line, exit 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_gpu_is_a_user_error():
    with pytest.raises(DeviceError, match=r"MODEL.DEVICE is 'cuda' but no CUDA GPU is usable here"):
        resolve_device("cuda")


def test_output_folder_checks_without_creating_anything(tmp_path, monkeypatch):
    target = tmp_path / "a" / "b"
    assert require_writable_dir(str(target), "OUTPUT_DIR") == str(target)
    assert not (tmp_path / "a").exists()  # checked, not created
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputDirError, match=r"OUTPUT_DIR .*/file/out: .*/file is a file"):
        require_writable_dir(str(tmp_path / "file" / "out"), "OUTPUT_DIR")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    with pytest.raises(OutputDirError) as e:
        require_writable_dir(str(target), "OUTPUT_DIR")
    assert str(e.value) == (
        f"OUTPUT_DIR {target}: cannot write in {tmp_path} (read-only file system)"
    )


def test_predictor_names_its_device_argument():
    from videomt.inference import VideoPredictor

    with pytest.raises(DeviceError, match=r"^device is 'cuda:99' but"):
        VideoPredictor(
            os.path.join(ROOT, "configs", "quickstart", "synthetic_vis.yaml"), device="cuda:99"
        )
