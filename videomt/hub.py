"""Share a trained model: a folder with ``config.yaml``, ``model.safetensors``, ``classes.json``
and a model card ``README.md``, pushed to / read from the Hugging Face hub (``huggingface_hub``,
optional) or used as a local folder.

``publish_run`` makes the folder from a training output folder, ``push_to_hub`` uploads it,
``load_pretrained`` reads one back (local folder, ``org/name`` or ``hf://org/name[@revision]``);
``VideoPredictor.from_pretrained`` and ``MODEL.WEIGHTS hf://org/name`` build on it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import torch
import yaml
from safetensors.torch import save as safetensors_bytes

from .checkpoint import (
    CheckpointError,
    atomic_write,
    detect_layout,
    read_state_dict,
    to_videomt_layout,
)
from .config import CfgNode, load_config
from .data import DatasetCatalog, MetadataCatalog
from .utils.files import read_json
from .utils.hf_hub import hub_snapshot, parse_hub_id

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "CLASSES_FILE",
    "CARD_FILE",
    "Pretrained",
    "load_pretrained",
    "save_pretrained",
    "publish_run",
    "push_to_hub",
    "evaluation_metrics",
    "model_card",
]

CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.safetensors"
CLASSES_FILE = "classes.json"
CARD_FILE = "README.md"
_REQUIRED = (CONFIG_FILE, WEIGHTS_FILE, CLASSES_FILE)

_TASKS = {
    "vis": "video instance segmentation",
    "vps": "video panoptic segmentation",
    "vss": "video semantic segmentation",
}


@dataclass
class Pretrained:
    """A published model read back: its folder, config (frozen), weights file and class names."""

    directory: str
    cfg: CfgNode
    weights: str
    class_names: list[str]


def load_pretrained(name_or_dir: str) -> Pretrained:
    """A published model from a local folder or the hub (``org/name``,
    ``hf://org/name[@revision]``; downloaded once into the hub cache)."""
    if os.path.isdir(name_or_dir):
        directory = name_or_dir
    elif os.path.exists(name_or_dir):
        raise CheckpointError(f"{name_or_dir}: a published model is a folder, not a file")
    elif parse_hub_id(name_or_dir) is None:
        raise CheckpointError(
            f"{name_or_dir}: no such folder, and not a Hugging Face hub id (org/name)"
        )
    else:
        directory = hub_snapshot(name_or_dir, [*_REQUIRED, CARD_FILE], CheckpointError)
    missing = [f for f in _REQUIRED if not os.path.isfile(os.path.join(directory, f))]
    if missing:
        raise CheckpointError(
            f"{name_or_dir}: not a published VidEoMT model (no {', '.join(missing)}; "
            f"make one with tools/publish.py)"
        )
    cfg = load_config(os.path.join(directory, CONFIG_FILE))
    cfg.defrost()
    cfg.MODEL.WEIGHTS = os.path.join(directory, WEIGHTS_FILE)
    cfg.freeze()
    names = read_json(os.path.join(directory, CLASSES_FILE), "class list", CheckpointError)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{directory}/{CLASSES_FILE}: must be a JSON list of class names")
    if len(names) != cfg.MODEL.BACKBONE.NUM_CLASSES:
        raise CheckpointError(
            f"{directory}/{CLASSES_FILE}: {len(names)} class names for a model of "
            f"MODEL.BACKBONE.NUM_CLASSES {cfg.MODEL.BACKBONE.NUM_CLASSES}"
        )
    return Pretrained(directory, cfg, cfg.MODEL.WEIGHTS, names)


def save_pretrained(
    directory: str,
    state: dict[str, torch.Tensor],
    cfg: CfgNode,
    class_names: list[str],
    *,
    metrics: dict[str, float] | None = None,
    command: str | None = None,
    repo_id: str | None = None,
) -> None:
    """Write the published folder: ``state`` (this project's layout) as safetensors, ``cfg``
    without dataset-dependent start-up weights (every weight is in the file), the class names
    and the model card."""
    os.makedirs(directory, exist_ok=True)
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.BACKBONE.PRETRAINED = ""
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    # each file whole or not at all (a full disk or a kill leaves the folder's old file intact)
    files = {
        WEIGHTS_FILE: safetensors_bytes(tensors, metadata={"format": "pt"}),
        CONFIG_FILE: cfg.dump().encode(),
        CLASSES_FILE: json.dumps(list(class_names), indent=1).encode(),
        CARD_FILE: model_card(cfg, class_names, metrics or {}, command, repo_id).encode(),
    }
    for name, data in files.items():
        atomic_write(os.path.join(directory, name), lambda f, data=data: f.write(data), len(data))


def evaluation_metrics(metrics_json: str) -> dict[str, float]:
    """The last value of every evaluation metric (``<dataset>/<task>/<metric>``) in a run's
    ``metrics.json`` (Detectron2's format: one JSON object per line)."""
    found: dict[str, float] = {}
    with open(metrics_json) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise CheckpointError(f"{metrics_json}: line {number} is not JSON") from None
            for key, value in record.items():
                if key.count("/") == 2 and isinstance(value, (int, float)):
                    found[key] = float(value)
    return found


def model_card(
    cfg: CfgNode,
    class_names: list[str],
    metrics: dict[str, float],
    command: str | None,
    repo_id: str | None = None,
) -> str:
    """The README.md of a published model: hub metadata, task, backbone, classes, metrics and how
    to reproduce and use it."""
    task = cfg.MODEL.BACKBONE.TEST.TASK
    b = cfg.MODEL.BACKBONE
    name = repo_id or "<org>/<name>"
    header = {
        "library_name": "videomt",
        "license": "mit",
        "tags": ["video-segmentation", task.replace("v", "video-", 1), "videomt"],
        "pipeline_tag": "image-segmentation",
    }
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).strip(),
        "---",
        "",
        f"# VidEoMT: {_TASKS.get(task, task)}",
        "",
        f"- Task: {_TASKS.get(task, task)} (`{task}`)",
        f"- Backbone: `{b.MODEL_NAME}` (patch {b.PATCH_SIZE}"
        + (f", {b.DEPTH} blocks" if b.DEPTH else "")
        + f"), {b.NUM_OBJECT_QUERIES} queries",
        f"- Trained on: {', '.join(f'`{n}`' for n in cfg.DATASETS.TRAIN) or 'n/a'}, "
        f"{cfg.SOLVER.MAX_ITER} iterations",
        f"- Classes ({len(class_names)}): " + ", ".join(class_names),
        "",
        "## Metrics",
        "",
    ]
    if metrics:
        lines += ["| dataset | metric | value |", "|---|---|---|"]
        lines += [
            f"| {k.split('/')[0]} | {k.split('/', 1)[1]} | {v:.2f} |" for k, v in metrics.items()
        ]
    else:
        lines.append("No evaluation metrics were recorded in the run's metrics.json.")
    lines += [
        "",
        "## Reproduce",
        "",
        "Training command of this run (needs its datasets):",
        "",
        "```bash",
        command or "python train_net_video.py --config-file config.yaml",
        "```",
        "",
        "`config.yaml` here holds the complete config of the run.",
        "",
        "## Use",
        "",
        "```python",
        "import videomt",
        "",
        f'predictor = videomt.VideoPredictor.from_pretrained("{name}")',
        'for result in predictor("my_video.mp4"):',
        "    ...",
        "```",
        "",
        "or `python train_net_video.py --config-file config.yaml --eval-only "
        f"MODEL.WEIGHTS hf://{name}`.",
        "",
    ]
    return "\n".join(lines)


def _command_line(log_txt: str) -> str | None:
    """The ``command line: ...`` that ``train_net_video.py`` logs first, if the log has it."""
    if not os.path.isfile(log_txt):
        return None
    with open(log_txt, errors="replace") as f:
        for line in f:
            if "command line: " in line:
                return line.split("command line: ", 1)[1].strip()
    return None


def publish_run(
    run_dir: str,
    directory: str,
    *,
    weights: str | None = None,
    class_names: list[str] | None = None,
    repo_id: str | None = None,
) -> dict[str, Any]:
    """Make the published folder ``directory`` from a training output folder ``run_dir``
    (``config.yaml``, ``model_final.pth`` or ``weights``, ``metrics.json``, ``log.txt``).
    ``class_names`` default to those of the config's datasets. Returns what was written."""
    config = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isfile(config):
        raise CheckpointError(f"{run_dir}: no {CONFIG_FILE} (not a training output folder?)")
    cfg = load_config(config)
    weights = weights or os.path.join(run_dir, "model_final.pth")
    state = read_state_dict(weights)
    state = to_videomt_layout(state, detect_layout(state))
    num_classes = int(state["core.class_head.weight"].shape[0]) - 1
    if class_names is None:
        class_names = _dataset_class_names(cfg)
    if len(class_names) != num_classes:
        raise CheckpointError(
            f"{weights}: the model has {num_classes} classes but {len(class_names)} class names "
            f"were found (give them with --class-names)"
        )
    metrics_json = os.path.join(run_dir, "metrics.json")
    metrics = evaluation_metrics(metrics_json) if os.path.isfile(metrics_json) else {}
    command = _command_line(os.path.join(run_dir, "log.txt"))
    save_pretrained(
        directory, state, cfg, class_names, metrics=metrics, command=command, repo_id=repo_id
    )
    return {"directory": directory, "metrics": metrics, "classes": class_names}


def _dataset_class_names(cfg: CfgNode) -> list[str]:
    """Class names of the config's first test (else training) dataset, as the evaluation sees
    them (things for instance tasks, every class for the others)."""
    names = list(cfg.DATASETS.TEST) or list(cfg.DATASETS.TRAIN)
    if not names:
        raise CheckpointError("the run's config names no dataset: give --class-names")
    DatasetCatalog.resolve(names[0])
    meta = MetadataCatalog.get(names[0])
    key = "thing_classes" if cfg.MODEL.BACKBONE.TEST.TASK == "vis" else "stuff_classes"
    return list(meta.get(key, None) or [])


def push_to_hub(
    directory: str,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload VidEoMT model",
) -> str:
    """Create (if needed) the hub model repository ``repo_id`` and upload ``directory`` to it;
    returns the repository URL."""
    missing = [f for f in _REQUIRED if not os.path.isfile(os.path.join(directory, f))]
    if missing:
        raise CheckpointError(f"{directory}: nothing to push (no {', '.join(missing)})")
    try:
        import huggingface_hub
    except ImportError:
        raise CheckpointError(
            "pushing to the hub needs huggingface_hub (pip install huggingface_hub)"
        ) from None
    url = huggingface_hub.create_repo(repo_id, private=private, exist_ok=True, token=token)
    huggingface_hub.upload_folder(
        repo_id=repo_id, folder_path=directory, commit_message=commit_message, token=token
    )
    return str(url)
