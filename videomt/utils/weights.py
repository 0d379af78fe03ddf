"""Reading weight files: local files, URLs and HF hub ids, tensors only, one-line errors.

Shared by :mod:`videomt.checkpoint` (layouts, loading into a model) and the backbone builder
(local pretrained files), so it sits below both. Nothing is ever unpickled beyond tensors:
``.pth`` files load with ``weights_only=True``.
"""

from __future__ import annotations

import os
import pickle
import re
import urllib.parse
import warnings
import zipfile
from collections.abc import Callable

import torch

from .files import sniff

__all__ = [
    "CheckpointError",
    "cache_dir",
    "resolve_weights",
    "read_state_dict",
    "rename_keys",
    "hf_dinov3_to_timm",
    "DINOV3_TIMM_HF_KEYS",
]


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model (message names the file)."""


_URL_SCHEMES = ("http://", "https://", "file://")
_HF_ID = re.compile(r"^(hf://)?(?P<repo>[\w.-]+/[\w.-]+)(@(?P<rev>[\w./-]+))?$")


def cache_dir() -> str:
    """Where downloaded weights are kept: ``$VIDEOMT_CACHE`` or ``~/.cache/videomt``."""
    return os.path.expanduser(
        os.environ.get("VIDEOMT_CACHE", os.path.join("~", ".cache", "videomt"))
    )


def resolve_weights(path: str) -> str:
    """A local file or folder for ``path``, downloading it first when it is a URL (as Detectron2's
    ``MODEL.WEIGHTS``; kept in :func:`cache_dir`) or an HF hub id (``hf://org/name[@rev]``, or
    ``org/name`` when no such local path exists and it has no checkpoint file extension)."""
    if path.startswith(_URL_SCHEMES):
        name = os.path.basename(urllib.parse.urlparse(path).path) or "weights.pth"
        dst = os.path.join(cache_dir(), "checkpoints", name)
        if not os.path.isfile(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            try:
                torch.hub.download_url_to_file(path, dst, progress=True)
            except (OSError, ValueError) as e:  # urllib's errors are OSErrors
                raise CheckpointError(f"{path}: download failed ({_first_line(e)})") from None
        return dst
    match = _HF_ID.match(path)
    local_like = os.path.exists(path) or path.endswith(
        (".pth", ".pt", ".pkl", ".bin", ".safetensors")
    )
    if match and (path.startswith("hf://") or not local_like):
        try:
            from huggingface_hub import snapshot_download  # optional dependency
        except ImportError:
            raise CheckpointError(
                f"{path}: looks like an HF hub id but huggingface_hub is not "
                f"installed (pip install huggingface_hub)"
            ) from None
        try:
            return snapshot_download(
                match["repo"],
                revision=match["rev"],
                allow_patterns=["*.json", "*.safetensors", "*.bin", "*.pth"],
            )
        except Exception as e:  # hub errors have many types (network, auth, not found)
            raise CheckpointError(f"{path}: HF hub download failed ({_first_line(e)})") from None
    return path


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, URL, HF hub id or HF directory, unwrapped from
    ``{"model": ...}``.

    Accepts ``.safetensors``, ``.pth``/``.pt``/``.bin`` (tensors only: a pickle carrying other
    objects is refused and never executed) and HF directories with ``model.safetensors``. A file
    that is something else (empty, an HTML page, a plain zip...) is named in one line.
    """
    path = resolve_weights(path)
    if os.path.isdir(path):
        return read_state_dict(_hf_weights_file(path))
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint not found")
    kind = sniff(path)
    if kind is not None and kind != "is a zip archive":
        raise CheckpointError(f"{path}: {kind}, not a checkpoint")
    if kind == "is a zip archive" and not _is_torch_zip(path):
        raise CheckpointError(
            f"{path}: is a zip archive but not a PyTorch checkpoint (no data.pkl)"
        )
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except Exception as e:  # safetensors raises its own error types
            raise CheckpointError(
                f"{path}: not a readable safetensors file ({_first_line(e)})"
            ) from None
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol notes are not for the user
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+) ", str(e))
        what = f" ({found.group(1)})" if found else ""
        raise CheckpointError(
            f"{path}: refused to load: it holds pickled Python objects{what} besides "
            f"tensors, or was written by plain pickle; unpickling it could run code "
            f"(re-save trusted weights with torch.save)"
        ) from None
    except (RuntimeError, EOFError, OSError, KeyError, ValueError):
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupted?)"
        ) from None
    return _unwrap(obj, path)


def _is_torch_zip(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n == "data.pkl" or n.endswith("/data.pkl") for n in z.namelist())
    except zipfile.BadZipFile:  # a truncated archive: torch.load reports it
        return True


def _unwrap(obj, path: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise CheckpointError(
        f"{path}: no tensors found (expected a state dict or {{'model': state_dict}})"
    )


def _hf_weights_file(directory: str) -> str:
    for name in ("model.safetensors", "pytorch_model.bin"):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    raise CheckpointError(f"{directory}: no model.safetensors in this directory")


# ---------------------------------------------------------------------------------------- key maps
# (timm DINOv3 key, HF DINOv3 key) for everything but q/k/v.
DINOV3_TIMM_HF_KEYS = [
    ("cls_token", "embeddings.cls_token"),
    ("reg_token", "embeddings.register_tokens"),
    ("patch_embed.proj.{p}", "embeddings.patch_embeddings.{p}"),
    ("blocks.{i}.norm1.{p}", "layer.{i}.norm1.{p}"),
    ("blocks.{i}.norm2.{p}", "layer.{i}.norm2.{p}"),
    ("blocks.{i}.attn.q_bias", "layer.{i}.attention.q_proj.bias"),
    ("blocks.{i}.attn.v_bias", "layer.{i}.attention.v_proj.bias"),
    ("blocks.{i}.attn.proj.{p}", "layer.{i}.attention.o_proj.{p}"),
    ("blocks.{i}.gamma_1", "layer.{i}.layer_scale1.lambda1"),
    ("blocks.{i}.gamma_2", "layer.{i}.layer_scale2.lambda1"),
    ("blocks.{i}.mlp.fc1.{p}", "layer.{i}.mlp.up_proj.{p}"),
    ("blocks.{i}.mlp.fc2.{p}", "layer.{i}.mlp.down_proj.{p}"),
    ("norm.{p}", "norm.{p}"),
]


def _pattern(template: str) -> re.Pattern:
    rx = (
        re.escape(template)
        .replace(r"\{i\}", r"(?P<i>\d+)")
        .replace(r"\{p\}", r"(?P<p>weight|bias)")
    )
    return re.compile("^" + rx + "$")


def rename_keys(
    state: dict,
    pairs: list[tuple[str, str]],
    forward: bool,
    what: str,
    passthrough: Callable[[str], bool] = lambda k: False,
) -> dict:
    """Rename keys with (a, b) template pairs (a -> b if forward else b -> a)."""
    compiled = [(_pattern(a if forward else b), b if forward else a) for a, b in pairs]
    out = {}
    for key, value in state.items():
        for rx, target in compiled:
            m = rx.match(key)
            if m:
                out[target.format(**m.groupdict())] = value
                break
        else:
            if not passthrough(key):
                raise CheckpointError(f"{what}: unexpected key '{key}'")
    return out


def hf_dinov3_to_timm(state: dict) -> dict:
    """HF ``DINOv3ViTModel`` keys (``layer.i`` or ``model.layer.i``) -> timm ``*_dinov3_qkvb``
    keys."""
    state = {
        re.sub(r"^model\.layer\.", "layer.", k): v
        for k, v in state.items()
        if not k.endswith("mask_token") and "inv_freq" not in k
    }
    rx = re.compile(r"^layer\.(\d+)\.attention\.([qkv])_proj\.weight$")
    out = {}
    for key in [k for k in state if rx.match(k)]:
        i = rx.match(key).group(1)
        if key.endswith("q_proj.weight"):
            parts = [state[f"layer.{i}.attention.{n}_proj.weight"] for n in "qkv"]
            out[f"blocks.{i}.attn.qkv.weight"] = torch.cat(parts, dim=0)
    rest = {k: v for k, v in state.items() if not rx.match(k)}
    out.update(rename_keys(rest, DINOV3_TIMM_HF_KEYS, forward=False, what="HF DINOv3 weights"))
    return out
