"""A mistake in the arguments or the config is reported before the model stack loads: each entry
point, given a config typo or missing a required argument, prints one error line (exit 2) without
importing torch (about 2 s of start-up on its own), timm, torchvision or transformers. Read from
``python -X importtime`` (which lists every module a process imports); how long start-up takes is
measured, not asserted (model_zoo/benchmarks.md)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join("configs", "quickstart", "synthetic_vis.yaml")
HEAVY = {"torch", "timm", "torchvision", "transformers"}
TYPO = ["SOLVER.BASE_LRR", "0.1"]  # an override of a key that does not exist

CASES = {
    "benchmark typo": (
        ["benchmark.py", "--task", "fps", "--config-file", QUICKSTART, *TYPO],
        "SOLVER.BASE_LRR",
    ),
    "benchmark no task": (["benchmark.py"], "the following arguments are required: --task"),
    "train typo": (["train_net_video.py", "--config-file", QUICKSTART, *TYPO], "SOLVER.BASE_LRR"),
    "demo typo": (
        [
            "tools/video_demo.py",
            "--config-file",
            QUICKSTART,
            "--input",
            "v.mp4",
            "--output",
            "o.gif",
            *TYPO,
        ],
        "SOLVER.BASE_LRR",
    ),
    "demo no input": (
        ["tools/video_demo.py", "--config-file", QUICKSTART, "--output", "o.gif"],
        "the following arguments are required: --input",
    ),
    "export typo": (
        ["tools/export.py", "--config-file", QUICKSTART, "--output", "out", *TYPO],
        "SOLVER.BASE_LRR",
    ),
    "visualize_data typo": (
        ["tools/visualize_data.py", "--config-file", QUICKSTART, "--output", "out", *TYPO],
        "SOLVER.BASE_LRR",
    ),
    "web_demo typo": (["tools/web_demo.py", "--config", QUICKSTART, *TYPO], "SOLVER.BASE_LRR"),
    "bench_training typo": (
        ["tools/bench_training.py", "--config-file", QUICKSTART, *TYPO],
        "SOLVER.BASE_LRR",
    ),
    "convert_checkpoint no src": (
        ["tools/convert_checkpoint.py", "--dst", "out"],
        "the following arguments are required: --src",
    ),
    "device_check unknown section": (
        ["tools/device_check.py", "--sections", "fsp"],
        "argument --sections: invalid choice: 'fsp'",
    ),
    "device_check bad iterations": (
        ["tools/device_check.py", "--train-iters", "0"],
        "--train-iters is too small: 0",
    ),
    "publish no run-dir": (
        ["tools/publish.py", "--output", "out"],
        "the following arguments are required: --run-dir",
    ),
}


def imported_modules(stderr: str) -> set[str]:
    """Top-level names of the modules listed by ``-X importtime`` (``import time: ... | name``)."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def run_entry_point(argv: list[str], tmp_path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``argv[0]`` (a script relative to the repository; ``QUICKSTART`` arguments made
    absolute) under ``python -X importtime`` in ``tmp_path``, with ``$DETECTRON2_DATASETS``
    there too. Returns the process and its stderr lines other than the import times."""
    argv = [os.path.join(ROOT, argv[0])] + [
        os.path.join(ROOT, a) if a == QUICKSTART else a for a in argv[1:]
    ]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "DETECTRON2_DATASETS": str(tmp_path / "datasets")},
        timeout=300,
    )
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    return proc, lines


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_before_the_model_stack_loads(case, tmp_path):
    argv, message = CASES[case]
    proc, lines = run_entry_point(argv, tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in lines[-1] and "Traceback" not in proc.stderr, lines[-5:]
    assert not [line for line in lines if line.startswith("error:")][1:], lines  # one error line
    assert not HEAVY & imported_modules(proc.stderr), sorted(HEAVY & imported_modules(proc.stderr))


SOLVER_MISTAKES = {
    "warmup longer than training": (["SOLVER.MAX_ITER", "30"], "SOLVER.WARMUP_STEPS [10, 40]"),
    "no steps": (["SOLVER.MAX_ITER", "0"], "SOLVER.MAX_ITER must be >= 1"),
    "uneven batch": (
        ["SOLVER.IMS_PER_BATCH", "3", "SOLVER.ACCUMULATION_STEPS", "2"],
        "SOLVER.IMS_PER_BATCH (3) must be divisible",
    ),
    "unknown schedule": (["SOLVER.LR_SCHEDULE", "cosine"], "unknown SOLVER.LR_SCHEDULE 'cosine'"),
    "no training set": (["DATASETS.TRAIN", "()"], "DATASETS.TRAIN is empty"),
    "misspelt training set": (
        ["DATASETS.TRAIN", '("synthetic_vis_trian",)'],
        "DATASETS.TRAIN: dataset 'synthetic_vis_trian' is not registered; close names: "
        "synthetic_vis_train",
    ),
    # without the early check this one failed only after the whole training, at the evaluation
    "misspelt test set": (
        ["DATASETS.TEST", '("synthetic_vis_vall",)'],
        "DATASETS.TEST: dataset 'synthetic_vis_vall' is not registered",
    ),
    "own JSON not there": (
        ["DATASETS.TRAIN", '("my_data/train.json",)'],
        "DATASETS.TRAIN: dataset 'my_data/train.json': no such JSON file",
    ),
    "evaluation of a misspelt set": (
        ["--eval-only", "DATASETS.TEST", '("ytvis_2019_vall",)', "MODEL.WEIGHTS", "w.pth"],
        "DATASETS.TEST: dataset 'ytvis_2019_vall' is not registered",
    ),
}


@pytest.mark.parametrize("case", sorted(SOLVER_MISTAKES))
def test_training_config_mistakes_before_data_model_and_output(case, tmp_path):
    """Valid keys with values a training cannot run (solver values, dataset names): one line
    before the model stack loads, the dataset is generated or anything is written in OUTPUT_DIR
    (torch is loaded by then: the config's device is checked first)."""
    opts, message = SOLVER_MISTAKES[case]
    out = tmp_path / "out"
    proc, lines = run_entry_point(
        ["train_net_video.py", "--config-file", QUICKSTART, *opts, "OUTPUT_DIR", str(out)],
        tmp_path,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    loaded = imported_modules(proc.stderr)
    assert not (HEAVY - {"torch"}) & loaded, sorted((HEAVY - {"torch"}) & loaded)
    assert not (tmp_path / "datasets").exists()
    assert not out.exists() or not os.listdir(out), os.listdir(out)


def test_launched_world_size_is_what_launch_runs(monkeypatch):
    """The early batch check divides by the processes the job will have: a torchrun job's
    WORLD_SIZE, else --num-gpus x --num-machines."""
    from videomt.engine.launch import launched_world_size

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert launched_world_size(1) == 1 and launched_world_size(4, num_machines=2) == 8
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert launched_world_size(2) == 2
    monkeypatch.setenv("WORLD_SIZE", "6")
    assert launched_world_size(1) == 6


def _file_in_the_way(tmp_path):
    (tmp_path / "notes.txt").write_text("a file where a folder is expected")
    return str(tmp_path / "notes.txt" / "out")


OUTPUT_MISTAKES = {
    "export --output": (
        ["tools/export.py", "--config-file", QUICKSTART, "--output", "{bad}"],
        "--output {bad}: {file} is a file, not a folder",
    ),
    "publish --output": (
        ["tools/publish.py", "--run-dir", "run", "--output", "{bad}"],
        "--output {bad}: {file} is a file, not a folder",
    ),
    "convert_checkpoint --dst": (
        ["tools/convert_checkpoint.py", "--src", "w.pth", "--dst", "{bad}", "--to", "hf"],
        "--dst {bad}: {file} is a file, not a folder",
    ),
    "benchmark --json": (
        ["benchmark.py", "--task", "fps", "--config-file", QUICKSTART, "--json", "{bad}/a.json"],
        "--json {bad}/a.json: {file} is a file, not a folder",
    ),
    "benchmark --json is a folder": (
        ["benchmark.py", "--task", "matmul", "--json", "."],
        "--json .: is a folder, not a file",
    ),
    "bench_training --json": (
        ["tools/bench_training.py", "--config-file", QUICKSTART, "--json", "{bad}/a.json"],
        "--json {bad}/a.json: {file} is a file, not a folder",
    ),
    "device_check --json": (
        ["tools/device_check.py", "--device", "cpu", "--quick", "--json", "{bad}/a.json"],
        "--json {bad}/a.json: {file} is a file, not a folder",
    ),
}


@pytest.mark.parametrize("case", sorted(OUTPUT_MISTAKES))
def test_an_output_that_cannot_be_written_is_refused_before_the_work(case, tmp_path):
    """Results would be lost at the end (a benchmark's or a GPU check's JSON, an export): an
    output path that cannot be written is one line, exit 2, before anything runs."""
    argv, message = OUTPUT_MISTAKES[case]
    bad = _file_in_the_way(tmp_path)
    fill = dict(bad=bad, file=os.path.dirname(bad))
    proc, lines = run_entry_point([a.format(**fill) for a in argv], tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert lines == ["error: " + message.format(**fill)], lines
    assert not HEAVY & imported_modules(proc.stderr), HEAVY & imported_modules(proc.stderr)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_third_party_log_records_are_shown_once_and_kept_in_the_log(tmp_path):
    """huggingface_hub (imported by timm) has a stderr handler of its own: after
    ``setup_logger`` its records (download retries, warnings) go through ours only: once on
    the console, and in log.txt."""
    code = (
        "import logging, sys, timm\n"
        "from videomt.engine.defaults import setup_logger\n"
        "setup_logger(sys.argv[1])\n"
        "logging.getLogger('huggingface_hub.utils._http').warning('Retrying in 1s [Retry 1/5].')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (proc.stdout + proc.stderr).count("Retrying in 1s") == 1, (proc.stdout, proc.stderr)
    assert "Retrying in 1s" in (tmp_path / "log.txt").read_text()
