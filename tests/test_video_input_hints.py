"""Frame-format errors give the right conversion hint; a missing webcam is one line, with no
OpenCV WARN lines around it."""

import numpy as np
import pytest

from videomt.inference.video_io import VideoInputError, as_rgb_frame, open_video


@pytest.mark.parametrize(
    "dtype, hint",
    [
        (np.float32, "for floats in [0, 1] pass (x * 255).round().astype(np.uint8)"),
        (np.uint16, "for 16-bit frames in [0, 65535] pass (x >> 8).astype(np.uint8)"),
        (np.int64, "for values already in [0, 255] pass x.astype(np.uint8)"),
    ],
)
def test_non_uint8_frames_get_the_hint_for_their_dtype(dtype, hint):
    with pytest.raises(VideoInputError) as e:
        as_rgb_frame(np.zeros((4, 4, 3), dtype), "frame 0")
    assert str(e.value).endswith(f"got dtype {np.dtype(dtype)} ({hint})")


def test_missing_webcam_is_one_line_without_opencv_warnings(capfd):
    with pytest.raises(VideoInputError, match=r"^webcam 97: cannot be opened"):
        open_video(97)
    assert "WARN" not in capfd.readouterr().err  # OpenCV logs from C++ straight to fd 2
