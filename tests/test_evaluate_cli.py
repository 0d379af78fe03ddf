"""tools/evaluate.py: JSON on stdout, one readable line on stderr and a non-zero status on bad
input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from videomt.evaluation import evaluate_ytvis, id2rgb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tools", "evaluate.py")


def cli(*args):
    return subprocess.run(
        [sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=120
    )


def rle(m):
    r = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    r["counts"] = r["counts"].decode()
    return r


@pytest.fixture(scope="module")
def ytvis_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ytvis")
    h, w = 20, 30
    masks = []
    for t in range(3):
        m = np.zeros((h, w), np.uint8)
        m[2 + t : 10 + t, 3:12] = 1
        masks.append(m)
    gt = {
        "videos": [{"id": 1, "height": h, "width": w, "length": 3, "file_names": ["a", "b", "c"]}],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {
                "id": 1,
                "video_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "segmentations": [rle(m) for m in masks],
            }
        ],
    }
    shifted = [np.roll(m, 2, axis=1) for m in masks]
    res = [
        {"video_id": 1, "category_id": 1, "score": 0.8, "segmentations": [rle(m) for m in shifted]},
        {"video_id": 1, "category_id": 2, "score": 0.9, "segmentations": [rle(m) for m in masks]},
    ]
    (d / "gt.json").write_text(json.dumps(gt))
    (d / "res.json").write_text(json.dumps(res))
    return d, gt, res


def test_ytvis_prints_json(ytvis_files):
    d, gt, res = ytvis_files
    r = cli("ytvis", "--gt", d / "gt.json", "--results", d / "res.json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    ref = evaluate_ytvis(gt, res)
    assert out["AP"] == pytest.approx(ref["AP"]) and out["AR10"] == pytest.approx(ref["AR10"])
    assert 0 < out["AP"] < 100
    assert out["APm"] is None  # nan -> null, the output stays strict JSON


def test_ytvis22_from_folder(ytvis_files, tmp_path):
    d, gt, res = ytvis_files
    for name in ("gt_short.json", "gt_long.json"):
        (tmp_path / name).write_text(json.dumps(gt))
    r = cli("ytvis22", "--gt-dir", tmp_path, "--results", d / "res.json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["AP^L"] == pytest.approx(out["mAP"]) and "AR^L_10" in out


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r[0].update(video_id=42), "unknown video_id 42"),
        (lambda r: r[0]["segmentations"].pop(), "2 segmentations for a video of 3 frames"),
        (lambda r: r[0]["segmentations"][1].update(counts="xyz"), "frame 1: malformed RLE"),
    ],
)
def test_ytvis_bad_input_is_one_line_on_stderr(ytvis_files, tmp_path, change, message):
    d, gt, res = ytvis_files
    bad = json.loads(json.dumps(res))
    change(bad)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    r = cli("ytvis", "--gt", d / "gt.json", "--results", tmp_path / "bad.json")
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr and r.stderr.startswith("error: ")


def test_missing_file_and_usage_errors(tmp_path):
    r = cli("ytvis", "--gt", tmp_path / "nope.json", "--results", tmp_path / "nope2.json")
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    import zipfile

    with zipfile.ZipFile(tmp_path / "gt.zip", "w") as z:
        z.writestr("gt.json", "{}")
    r = cli("ytvis", "--gt", tmp_path / "gt.zip", "--results", tmp_path / "nope2.json")
    assert r.returncode == 2
    assert (
        r.stderr == f"error: {tmp_path / 'gt.zip'}: ground-truth file is a zip archive, not JSON\n"
    )
    r = cli("nonsense")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_vpq_stq_and_vss(tmp_path):
    # a 2-frame VIPSeg-format video, predicted perfectly
    gt_dir, pred_dir = tmp_path / "panomasksRGB" / "v", tmp_path / "sub" / "pan_pred" / "v"
    gt_dir.mkdir(parents=True)
    pred_dir.mkdir(parents=True)
    ids = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    gj = {
        "categories": [{"id": 0, "isthing": 0}, {"id": 2, "isthing": 1}],
        "annotations": [{"video_id": "v", "annotations": []}],
    }
    pj = {"annotations": [{"video_id": "v", "annotations": []}]}
    for t in range(2):
        Image.fromarray(id2rgb(ids)).save(gt_dir / f"{t}.png")
        Image.fromarray(id2rgb(ids)).save(pred_dir / f"{t}.png")
        segs = [
            {"id": 1, "category_id": 2, "iscrowd": 0},
            {"id": 2, "category_id": 0, "iscrowd": 0},
        ]
        gj["annotations"][0]["annotations"].append({"file_name": f"{t}.png", "segments_info": segs})
        pj["annotations"][0]["annotations"].append({"file_name": f"{t}.jpg", "segments_info": segs})
    (tmp_path / "gt.json").write_text(json.dumps(gj))
    (tmp_path / "sub" / "pred.json").write_text(json.dumps(pj))
    common = [
        "--truth-dir",
        tmp_path / "panomasksRGB",
        "--pan-gt-json-file",
        tmp_path / "gt.json",
        "--num-processes",
        "1",
    ]
    r = cli("vpq", "--submit-dir", tmp_path / "sub", *common)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["VPQ_k0"] == pytest.approx(100.0) and out["VPQ_k5"] == pytest.approx(100.0)
    assert out["VPQ"] is None  # windows of 4, 6, 8 frames do not exist in a 2-frame video
    r = cli(
        "stq",
        "--pred-json",
        tmp_path / "sub" / "pred.json",
        "--pred-dir",
        tmp_path / "sub" / "pan_pred",
        *common,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # the only thing is the first listed segment -> "crowd" (reference quirk): AQ has no tubes
    assert out["IoU"] == pytest.approx(100.0) and out["AQ"] == 0.0
    os.remove(pred_dir / "1.png")
    r = cli("vpq", "--submit-dir", tmp_path / "sub", *common)
    assert r.returncode == 2 and "video v, frame 1: prediction PNG missing" in r.stderr
    assert r.stderr.count("\n") == 1

    # VSPW layout
    root = tmp_path / "VSPW_480p"
    (root / "data" / "clip" / "mask").mkdir(parents=True)
    (tmp_path / "vss" / "clip").mkdir(parents=True)
    for t in range(10):
        Image.fromarray(np.full((4, 5), 3, np.uint8)).save(
            root / "data" / "clip" / "mask" / f"{t:05d}.png"
        )
        Image.fromarray(np.full((4, 5), 2, np.uint8)).save(
            tmp_path / "vss" / "clip" / f"{t:05d}.png"
        )
    (root / "val.txt").write_text("clip\n")
    r = cli("vss", "--data-root", root, "--pred-dir", tmp_path / "vss", "--num-classes", 4)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (
        out["mIoU"] == pytest.approx(100.0)
        and out["VC8"] == pytest.approx(100.0)
        and out["VC16"] is None
    )
    Image.fromarray(np.full((4, 5), 9, np.uint8)).save(tmp_path / "vss" / "clip" / "00007.png")
    r = cli("vss", "--data-root", root, "--pred-dir", tmp_path / "vss", "--num-classes", 4)
    assert (
        r.returncode == 2
        and "video clip, frame 00007: predicted value 9 is not a class" in r.stderr
    )


def test_cli_wrapper_keeps_the_whole_first_line(capsys):
    """User errors: the first line of the message (KeyError-based ones without the quotes that
    KeyError adds), exit status 2."""
    from videomt.cli import run_cli
    from videomt.config import ConfigError
    from videomt.data.catalog import UnknownDatasetError

    def fail(exc):
        def main():
            raise exc

        return main

    for exc, line in [
        (
            UnknownDatasetError("dataset 'x' is not registered; close names: 'ytvis_2019_val'"),
            "dataset 'x' is not registered; close names: 'ytvis_2019_val'",
        ),
        (ConfigError("key 'A.B' unknown\nsecond line"), "key 'A.B' unknown"),
    ]:
        with pytest.raises(SystemExit) as e:
            run_cli(fail(exc))
        assert e.value.code == 2
        assert capsys.readouterr().err == f"error: {line}\n"


def test_cli_wrapper_lets_a_bug_through(tmp_path):
    """Only user errors become one line: any other exception keeps its traceback (exit 1)."""
    from videomt.cli import run_cli

    for bug in (KeyError("a key our code got wrong"), ValueError("a bug"), OSError("disk")):

        def main(bug=bug):
            raise bug

        with pytest.raises(type(bug)):
            run_cli(main)
    script = tmp_path / "bug.py"
    script.write_text(
        "from videomt.cli import run_cli\ndef main():\n    return {}['missing']\nrun_cli(main)\n"
    )
    r = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "KeyError: 'missing'" in r.stderr


def test_train_net_without_config_file_is_a_user_error(tmp_path):
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train_net_video.py"), "--eval-only"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("error: --config-file is required") and r.stderr.count("\n") == 1
    assert not (tmp_path / "output").exists()  # nothing built, nothing written
