"""Draw per-frame results: translucent masks with outlines, one stable colour per track, a label
"<class> <score>" on each object and a legend.

Colours: an instance track (vis) or thing segment (vps) is coloured by its track id (the query
index, which is the object's identity across frames), stuff segments and semantic classes by
their class, so colours do not flicker from frame to frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch

from ..data.metadata import palette

__all__ = ["draw_result", "draw_items", "frame_items", "track_colour", "DrawItem"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MAX_LEGEND = 12


@lru_cache(maxsize=4096)
def track_colour(key: int) -> tuple[int, int, int]:
    """A fixed RGB colour for an integer key (golden-ratio hue spacing)."""
    return tuple(palette(key + 1)[key])


@dataclass
class DrawItem:
    mask: np.ndarray  # (H, W) bool
    colour: tuple[int, int, int]
    label: str  # drawn on the object
    legend: str  # legend line


def _name(class_names: Sequence[str], label: int) -> str:
    return class_names[label] if 0 <= label < len(class_names) else f"class {label}"


def _np(x) -> np.ndarray:
    return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def frame_items(
    result: dict, class_names: Sequence[str], confidence_threshold: float = 0.5
) -> list[DrawItem]:
    """What to draw for one frame's result (any task), most confident first; objects scoring
    below ``confidence_threshold`` and empty masks are left out (semantic classes have no score
    and are all drawn)."""
    items = []
    stuff_offset = 10_000  # stuff / semantic colours: keyed by class, away from track ids
    if "masks" in result:  # instance
        masks = _np(result["masks"])
        for i in np.argsort(-_np(result["scores"]), kind="stable"):
            score, label, track = (
                float(result["scores"][i]),
                int(result["labels"][i]),
                int(result["track_ids"][i]),
            )
            if score < confidence_threshold or not masks[i].any():
                continue
            name = _name(class_names, label)
            items.append(
                DrawItem(
                    masks[i],
                    track_colour(track),
                    f"{name} {score:.0%}",
                    f"#{track} {name} {score:.0%}",
                )
            )
    elif "panoptic_seg" in result:
        pan = _np(result["panoptic_seg"])
        for s in sorted(result["segments_info"], key=lambda s: -s.get("score", 1.0)):
            score = s.get("score", 1.0)
            if score < confidence_threshold:
                continue
            name = _name(class_names, s["category_id"])
            key = s.get("track_id", s["id"]) if s["isthing"] else stuff_offset + s["category_id"]
            items.append(
                DrawItem(
                    pan == s["id"],
                    track_colour(key),
                    f"{name} {score:.0%}",
                    f"#{s['id']} {name} {score:.0%}",
                )
            )
    else:  # semantic
        sem = _np(result["sem_seg"])
        classes, counts = np.unique(sem, return_counts=True)
        for c in classes[np.argsort(-counts, kind="stable")]:
            name = _name(class_names, int(c))
            items.append(DrawItem(sem == c, track_colour(stuff_offset + int(c)), name, name))
    return items


def _text(
    img: np.ndarray, text: str, org: tuple[int, int], scale: float, colour=(255, 255, 255)
) -> None:
    """Text with a dark box behind it; ``org`` is the box's top-left corner."""
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, 1)
    x = int(np.clip(org[0], 0, max(0, img.shape[1] - tw - 2)))
    y = int(np.clip(org[1], 0, max(0, img.shape[0] - th - base - 2)))
    cv2.rectangle(img, (x, y), (x + tw + 2, y + th + base + 2), (0, 0, 0), -1)
    cv2.putText(img, text, (x + 1, y + th + 1), _FONT, scale, colour, 1, cv2.LINE_AA)


def draw_result(
    frame: np.ndarray,
    result: dict,
    class_names: Sequence[str],
    confidence_threshold: float = 0.5,
    alpha: float = 0.5,
    legend: bool = True,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame + its result -> a new (H, W, 3) uint8 RGB image."""
    return draw_items(frame, frame_items(result, class_names, confidence_threshold), alpha, legend)


def draw_items(
    frame: np.ndarray, items: Sequence[DrawItem], alpha: float = 0.5, legend: bool = True
) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame + what to draw on it -> a new (H, W, 3) uint8 RGB image."""
    out = frame.astype(np.float32)
    for item in items:
        out[item.mask] = out[item.mask] * (1 - alpha) + np.asarray(item.colour, np.float32) * alpha
    out = np.ascontiguousarray(out.round().clip(0, 255).astype(np.uint8))
    scale = float(np.clip(min(frame.shape[:2]) / 500, 0.3, 1.0))
    for item in items:
        contours, _ = cv2.findContours(
            item.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        cv2.drawContours(out, contours, -1, item.colour, 1, cv2.LINE_AA)
        ys, xs = np.nonzero(item.mask)
        top = int(ys.min())
        _text(
            out,
            item.label,
            (int(np.median(xs[ys == top])), top - int(20 * scale)),
            scale,
            item.colour,
        )
    if legend and items:
        (_, th), base = cv2.getTextSize("Ag", _FONT, scale, 1)
        step = th + base + 4
        for row, item in enumerate(items[:_MAX_LEGEND]):
            y = 2 + row * step
            cv2.rectangle(out, (2, y), (2 + th + base, y + th + base), item.colour, -1)
            _text(out, item.legend, (th + base + 5, y), scale)
        if len(items) > _MAX_LEGEND:
            _text(out, f"+{len(items) - _MAX_LEGEND} more", (2, 2 + _MAX_LEGEND * step), scale)
    return out
