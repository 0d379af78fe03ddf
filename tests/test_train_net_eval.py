"""`train_net_video.py --eval-only` end to end on the quickstart config (random weights, CPU)."""

import json
import zipfile

import pytest
from train_fixtures import QUICKSTART, assert_one_line_error, run_cli


def eval_quickstart(tmp_path, out, *extra):
    proc = run_cli(
        [
            "--config-file",
            QUICKSTART,
            "--eval-only",
            "--random-weights",
            *extra,
            "MODEL.DEVICE",
            "cpu",
            "OUTPUT_DIR",
            str(out),
            "MODEL.BACKBONE.DEPTH",
            "3",
            "MODEL.BACKBONE.SEGMENTER_BLOCKS",
            "[1, 2]",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_eval_only_quickstart_end_to_end(tmp_path):
    out = tmp_path / "out"
    eval_quickstart(tmp_path, out)
    folder = out / "inference" / "synthetic_vis_val"
    results = json.loads((folder / "results.json").read_text())
    gt = json.loads(
        (tmp_path / "datasets" / "synthetic" / "synthetic_vis_val" / "annotations.json").read_text()
    )
    lengths = {v["id"]: len(v["file_names"]) for v in gt["videos"]}
    assert len(results) == 10 * len(lengths)  # MAX_NUM tracks per video
    for r in results:
        assert len(r["segmentations"]) == lengths[r["video_id"]]
        assert isinstance(r["segmentations"][0]["counts"], str)
        assert r["category_id"] in {c["id"] for c in gt["categories"]}
    assert zipfile.ZipFile(folder / "results.zip").namelist() == ["results.json"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["segm"]) >= {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10"}
    record = out / "inference"  # an evaluation's log and config, apart from a training's
    assert (record / "log.txt").exists() and (record / "config.yaml").exists()
    assert "copypaste: AP,AP50" in (record / "log.txt").read_text()
    assert not (out / "log.txt").exists() and not (out / "config.yaml").exists()

    # two processes (gloo): each rank infers half of the videos, rank 0 gathers the same results
    eval_quickstart(tmp_path, tmp_path / "dist", "--num-gpus", "2")
    dist_folder = tmp_path / "dist" / "inference" / "synthetic_vis_val"
    assert json.loads((dist_folder / "results.json").read_text()) == results
    assert (tmp_path / "dist" / "inference" / "log.txt.rank1").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config-file", "missing.yaml", "--eval-only"], "missing.yaml: config file not found"),
        (
            ["--config-file", QUICKSTART, "--eval-only", "MODEL.BACKBONE.NUM_CLASES", "3"],
            "unknown config key",
        ),
        (
            [
                "--config-file",
                QUICKSTART,
                "--eval-only",
                "MODEL.WEIGHTS",
                "nowhere.pth",
                "MODEL.DEVICE",
                "cpu",
            ],
            "nowhere.pth: checkpoint not found",
        ),
        (
            ["--config-file", QUICKSTART, "--eval-only", "MODEL.DEVICE", "cpu"],
            "--eval-only: MODEL.WEIGHTS is empty, so the scores would be those of random weights",
        ),
        (
            ["--config-file", QUICKSTART, "--eval-only", "MODEL.DEVICE", "cuda:99"],
            "MODEL.DEVICE is 'cuda:99' but",
        ),
        (
            ["--config-file", QUICKSTART, "MODEL.DEVICE", "gpu"],
            "MODEL.DEVICE: 'gpu' is not a device name",
        ),
    ],
)
def test_user_errors_are_one_line(tmp_path, args, message):
    proc = run_cli(args + ["OUTPUT_DIR", str(tmp_path / "o")], tmp_path)
    assert_one_line_error(proc, message)


@pytest.mark.parametrize(
    "task, keys",
    [("vps", {"VPQ", "VPQ_k0", "STQ", "AQ", "IoU"}), ("vss", {"mIoU", "VC8", "VC16_official"})],
)
def test_eval_only_panoptic_and_semantic(tmp_path, task, keys):
    out = tmp_path / "out"
    eval_quickstart(
        tmp_path,
        out,
        "MODEL.BACKBONE.TEST.TASK",
        task,
        "DATASETS.TEST",
        f"('synthetic_{task}_val',)",
        "MODEL.BACKBONE.NUM_CLASSES",
        "8",
        "MODEL.BACKBONE.TEST.OBJECT_MASK_THRESHOLD",
        "0.0",
        "MODEL.BACKBONE.TEST.OVERLAP_THRESHOLD",
        "0.0",
    )
    folder = out / "inference" / f"synthetic_{task}_val"
    metrics = json.loads((folder / "metrics.json").read_text())[task]
    assert keys <= set(metrics)
    if task == "vps":
        assert (folder / "pred.json").exists() and any((folder / "pan_pred").iterdir())
    else:
        assert len(list(folder.glob("*/*.png"))) > 0
