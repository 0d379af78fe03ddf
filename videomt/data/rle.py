"""COCO segmentations as compressed RLEs, checked before pycocotools decodes them.

pycocotools trusts a compressed ``counts`` string: runs that do not add up to height*width make
``decode`` return uninitialised memory (or write past the mask) and ``iou`` / ``merge`` loop
forever. So :func:`check_counts` checks every string first, many at once, with errors that name the
frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_util

_CHUNK_CHARS = 1 << 18  # characters checked per vectorised pass (bounds the memory used)


def to_rle(
    segm: Any, h: int, w: int, where: str, error: type[Exception], polygons: bool = True
) -> dict | None:
    """``segm`` (an RLE dict with compressed or uncompressed counts, or polygons) as a compressed
    RLE of an ``(h, w)`` mask, ``None`` for no polygon of 3+ points; compressed counts come back as
    given (``str``), unchecked: pass them to :func:`check_counts`."""
    if isinstance(segm, Mapping):
        if "counts" not in segm or "size" not in segm:
            raise error(f"{where}: RLE needs 'size' and 'counts'")
        try:
            size = [int(v) for v in segm["size"]]
        except (TypeError, ValueError):
            raise error(f"{where}: RLE size {segm['size']!r} is not [height, width]") from None
        if size != [h, w]:
            raise error(f"{where}: RLE size {size} disagrees with the frame size [{h}, {w}]")
        counts = segm["counts"]
        if isinstance(counts, bytes):
            counts = counts.decode("latin-1")  # a non-ASCII byte fails check_counts
        if isinstance(counts, str):
            return {"size": size, "counts": counts}
        if (
            isinstance(counts, (list, tuple))
            and all(isinstance(c, (int, np.integer)) and c >= 0 for c in counts)
            and sum(counts) == h * w
        ):
            return mask_util.frPyObjects({"size": size, "counts": [int(c) for c in counts]}, h, w)
        raise error(
            f"{where}: uncompressed RLE counts must be non-negative integers adding up to "
            f"height*width = {h * w}"
        )
    if polygons and isinstance(segm, (list, tuple)):
        polys = [
            p
            for p in (np.asarray(p, dtype=np.float64).ravel().tolist() for p in segm)
            if len(p) >= 6
        ]
        return mask_util.merge(mask_util.frPyObjects(polys, h, w)) if polys else None
    raise error(
        f"{where}: segmentation must be an RLE dict{' or polygons' if polygons else ''}, "
        f"got {type(segm).__name__}"
    )


def check_counts(rles: Sequence[tuple[str, dict]], error: type[Exception]) -> None:
    """Raise ``error`` naming ``where`` for the first ``(where, RLE)`` whose counts do not decode to
    runs >= 0 adding up to height*width."""
    strings = [
        r["counts"].decode("latin-1") if isinstance(r["counts"], bytes) else r["counts"]
        for _, r in rles
    ]
    sizes = [int(r["size"][0]) * int(r["size"][1]) for _, r in rles]
    start = 0
    while start < len(strings):
        stop, chars = start + 1, len(strings[start])
        while stop < len(strings) and chars + len(strings[stop]) <= _CHUNK_CHARS:
            chars += len(strings[stop])
            stop += 1
        bad = np.flatnonzero(~_counts_ok(strings[start:stop], sizes[start:stop]))
        if bad.size:
            raise error(
                f"{rles[start + bad[0]][0]}: malformed RLE (its counts do not decode to runs "
                f"adding up to height*width = {sizes[start + bad[0]]})"
            )
        start = stop


def _counts_ok(strings: list[str], sizes: list[int]) -> np.ndarray:
    """Which compressed counts strings decode, as pycocotools does, to runs >= 0 adding up to
    ``sizes`` (bool per string), in one vectorised pass. Format: each character is 48 + 6 bits; a
    run value is stored little-endian in 5-bit groups over one or more characters (bit 0x20: the
    value goes on in the next character; bit 0x10 of its last character: negative); from the fourth
    run on, a value is the difference to the run two places before."""
    n = len(strings)
    ok = np.array([s.isascii() for s in strings], dtype=bool)
    strings = [s if good else "" for s, good in zip(strings, ok)]
    lens = np.array([len(s) for s in strings], dtype=np.int64)
    ends = np.cumsum(lens)

    def owner(i: np.ndarray) -> np.ndarray:  # string of each character index in i
        return np.searchsorted(ends, i, side="right")

    buf = np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8)
    ok[owner(np.flatnonzero((buf < 48) | (buf > 111)))] = False
    c = buf - np.uint8(48)  # 6 bits per character (invalid ones wrap, already flagged)
    more = (c & 0x20) > 0
    last = ends[lens > 0] - 1
    ok[owner(last[more[last]])] = False  # the string ends inside a value
    more[last] = False
    end = np.flatnonzero(~more)  # last character of each value
    start = np.concatenate([[0], end + 1])[:-1]
    length = end - start + 1
    ok[owner(end[length > 6])] = False  # more than 6 characters overflow pycocotools' own decoder
    values = (c[start] & 0x1F).astype(np.int64)
    for k in range(1, 6):
        sel = np.flatnonzero(length > k)
        values[sel] += (c[start[sel] + k] & 0x1F).astype(np.int64) << (5 * k)
    values -= np.where(c[end] & 0x10, np.int64(1) << (5 * np.minimum(length, 6)), 0)  # negative
    vowner = owner(end)
    first = np.searchsorted(vowner, np.arange(n))  # each string's first value
    j = np.arange(len(end)) - first[vowner]  # run index in its string
    runs = values.copy()
    for parity in (0, 1):  # run j >= 3 adds run j - 2: runs of one parity are running sums
        chain = (j % 2 == parity) & (j > 0)
        total = np.concatenate([[0], np.cumsum(np.where(chain, values, 0))])
        runs[chain] = total[1:][chain] - total[first[vowner[chain]]]
    ok[vowner[runs < 0]] = False
    return ok & (np.bincount(vowner, runs, minlength=n) == np.asarray(sizes))
