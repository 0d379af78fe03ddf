"""VSPW mIoU and VC on tiny arrays computed by hand, and the file layout."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from PIL import Image

from videomt.evaluation import EvaluationError, evaluate_vss, evaluate_vss_files, vss_from_arrays
from videomt.evaluation.vss import confusion_matrix, segmentation_scores, vc_window_accuracies


def test_miou_by_hand():
    # raw GT values: class = v - 1; 0 and 255 ignored
    gt = np.array([[1, 1, 2, 0], [3, 255, 2, 2]])
    pred = np.array([[0, 1, 1, 2], [2, 0, 1, 0]])
    conf = confusion_matrix(gt, pred, 3)
    assert conf.tolist() == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]
    s = segmentation_scores(conf)
    assert s["mIoU"] == pytest.approx((1 / 3 + 2 / 4 + 1) / 3)
    assert s["pixel_acc"] == pytest.approx(4 / 6)
    assert s["class_acc"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert s["FWIoU"] == pytest.approx(2 / 6 * 1 / 3 + 3 / 6 * 2 / 4 + 1 / 6 * 1)
    out = vss_from_arrays([([gt], [pred])], num_classes=3, vc_windows=(2,))
    assert out["mIoU"] == pytest.approx(100 * (1 / 3 + 2 / 4 + 1) / 3)
    assert math.isnan(out["VC2"])  # a single frame has no window


def test_miou_averages_over_classes_present_in_gt():
    gt = np.array([[1, 1, 2, 2]])
    pred = np.array([[0, 3, 1, 1]])  # class 3 predicted, never in the GT
    s = vss_from_arrays([([gt], [pred])], num_classes=4, vc_windows=())
    # class 0: TP 1, FN 1 -> 1/2; class 1: 1; class 3 (IoU 0) is not in the GT and not averaged
    assert s["mIoU"] == pytest.approx(100 * (1 / 2 + 1) / 2)
    assert s["pixel_acc"] == pytest.approx(75.0)


def test_vc_by_hand():
    gt = [np.array(r) for r in ([1, 1, 2, 2], [1, 1, 2, 3], [1, 2, 2, 3], [1, 2, 2, 3])]
    pred = [np.array(r) for r in ([0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1], [5, 5, 5, 5])]
    # n = 2, starts 0..len-n-1 = 0, 1 (the last window, frames 2-3, is not used by the reference)
    #   i=0: G = [1,1,1,0], Pc = [1,1,0,0] -> 2/3;   i=1: G = [1,0,1,1], Pc = all -> 1
    np.testing.assert_allclose(vc_window_accuracies(gt, pred, 2), [2 / 3, 1.0])
    # n = 3, start 0: G = [1,0,1,0], Pc = [1,1,0,0] -> 1/2
    np.testing.assert_allclose(vc_window_accuracies(gt, pred, 3), [0.5])
    out = vss_from_arrays([(gt, pred)], num_classes=6, vc_windows=(2, 3))
    assert out["VC2"] == pytest.approx(100 * 5 / 6)
    assert out["VC3"] == pytest.approx(50.0)
    # the reference never clears its list: its "VC3" is the mean over the n=2 and n=3 windows
    assert out["VC3_official"] == pytest.approx(100 * (2 / 3 + 1 + 1 / 2) / 3)
    assert out["mVC3"] == out["VC3_official"] and out["mVC2"] == out["VC2"]


def test_vc_is_a_mean_over_windows_not_videos_and_skips_short_videos():
    a = [np.zeros((2, 2), int)] * 3  # 3 frames: n=2 windows i=0 only
    long_gt = [np.zeros((2, 2), int)] * 5  # windows i=0,1,2
    long_pred = [np.zeros((2, 2), int), np.eye(2, dtype=int)] + [np.eye(2, dtype=int)] * 3
    # long video: i=0: Pc = 2 of 4 -> 0.5; i=1, i=2: 1
    short = [np.zeros((2, 2), int)] * 2  # len 2, not > n: no window
    out = vss_from_arrays(
        [(a, a), (long_gt, long_pred), (short, [np.eye(2, dtype=int)] * 2)],
        num_classes=2,
        vc_windows=(2,),
    )
    assert out["VC2"] == pytest.approx(100 * (1 + 0.5 + 1 + 1) / 4)
    # windows where no GT pixel is stable are nan and dropped
    g = [np.array([[1, 2]]), np.array([[2, 1]]), np.array([[1, 2]])]
    assert np.isnan(vc_window_accuracies(g, g, 2)).all()


def test_vc_8_16_on_a_longer_video():
    rng = np.random.default_rng(0)
    T = 20
    gt = [np.full((4, 4), 3)] * T
    pred = [np.full((4, 4), 1) for _ in range(T)]
    flip = rng.integers(0, T)
    pred[flip] = pred[flip].copy()
    pred[flip][0, 0] = 2  # one pixel changes in one frame
    acc8 = vc_window_accuracies(gt, pred, 8)
    acc16 = vc_window_accuracies(gt, pred, 16)
    exp8 = [15 / 16 if i <= flip <= i + 7 else 1.0 for i in range(T - 8)]
    exp16 = [15 / 16 if i <= flip <= i + 15 else 1.0 for i in range(T - 16)]
    np.testing.assert_allclose(acc8, exp8)
    np.testing.assert_allclose(acc16, exp16)
    out = vss_from_arrays([(gt, pred)], num_classes=4)
    assert out["VC8"] == pytest.approx(100 * np.mean(exp8))
    assert out["VC16"] == pytest.approx(100 * np.mean(exp16))
    assert out["VC16_official"] == pytest.approx(100 * np.mean(exp8 + exp16))
    assert out["mVC16"] == out["VC16_official"] != out["VC16"]


def write_vspw(root, videos):
    for vid, (gt, pred) in videos.items():
        os.makedirs(os.path.join(root, "VSPW_480p", "data", vid, "mask"))
        os.makedirs(os.path.join(root, "pred", vid))
        for t, (g, p) in enumerate(zip(gt, pred)):
            mask_dir = os.path.join(root, "VSPW_480p", "data", vid, "mask")
            Image.fromarray(g.astype(np.uint8)).save(os.path.join(mask_dir, f"{t:08d}.png"))
            Image.fromarray(p.astype(np.uint8)).save(
                os.path.join(root, "pred", vid, f"{t:08d}.png")
            )
    with open(os.path.join(root, "VSPW_480p", "val.txt"), "w") as f:
        f.write("\n".join(videos) + "\n")
    return os.path.join(root, "pred"), os.path.join(root, "VSPW_480p")


def random_video(rng, T, h=12, w=16, k=5):
    base = rng.integers(1, k + 1, (h, w))
    gt, pred = [], []
    for _ in range(T):
        g = base.copy()
        g[rng.random((h, w)) < 0.05] = rng.integers(1, k + 1)
        g[0, :2] = 0
        g[1, :2] = 255
        p = np.where(rng.random((h, w)) < 0.8, g - 1, rng.integers(0, k, (h, w)))
        p[g == 0] = 0
        p[g == 255] = 0
        gt.append(g)
        pred.append(p)
    return gt, pred


def test_files_equal_arrays_and_parallel(tmp_path):
    rng = np.random.default_rng(1)
    videos = {f"vid{i}": random_video(rng, T) for i, T in enumerate((18, 9, 4))}
    pred_dir, root = write_vspw(str(tmp_path), videos)
    a = evaluate_vss(pred_dir, root, num_classes=5, num_processes=1)
    b = evaluate_vss(pred_dir, root, num_classes=5, num_processes=2)
    c = vss_from_arrays(list(videos.values()), num_classes=5)
    assert a == b
    for k, v in c.items():
        assert a[k] == pytest.approx(v, nan_ok=True), k
    assert 30 < a["mIoU"] < 95 and 5 < a["VC8"] < 100 and not math.isnan(a["VC16"])
    lists = []
    for vid in videos:
        frames = sorted(os.listdir(os.path.join(root, "data", vid, "mask")))
        lists.append(
            (
                vid,
                [os.path.join(root, "data", vid, "mask", f) for f in frames],
                [os.path.join(pred_dir, vid, f) for f in frames],
            )
        )
    assert evaluate_vss_files(lists, num_classes=5, num_processes=1) == a


def test_bad_vss_inputs(tmp_path):
    rng = np.random.default_rng(2)
    videos = {"a": random_video(rng, 3), "b": random_video(rng, 2)}
    pred_dir, root = write_vspw(str(tmp_path), videos)
    evaluate_vss(pred_dir, root, num_classes=5, num_processes=1)
    p = os.path.join(pred_dir, "b", "00000001.png")
    Image.fromarray(np.full((12, 16), 7, np.uint8)).save(p)  # class 7 does not exist
    with pytest.raises(EvaluationError, match=r"video b, frame 00000001: predicted value 7"):
        evaluate_vss(pred_dir, root, num_classes=5, num_processes=1)
    Image.fromarray(np.zeros((12, 15), np.uint8)).save(p)
    with pytest.raises(
        EvaluationError, match=r"video b, frame 00000001: prediction size \(12, 15\)"
    ):
        evaluate_vss(pred_dir, root, num_classes=5, num_processes=2)
    os.remove(p)
    with pytest.raises(EvaluationError, match="video b, frame 00000001: prediction PNG missing"):
        evaluate_vss(pred_dir, root, num_classes=5)
    with pytest.raises(EvaluationError, match="split file not found"):
        evaluate_vss(pred_dir, root, split="test")
