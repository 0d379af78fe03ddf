"""RLE conversion and the counts check that runs before pycocotools decodes anything."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import rle_list
from pycocotools import mask as mask_util

from videomt.data.catalog import DatasetError
from videomt.data.rle import check_counts, to_rle


def encode(m: np.ndarray) -> dict:
    r = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))
    return {"size": r["size"], "counts": r["counts"].decode("ascii")}


def test_every_pycocotools_encoding_passes_and_converts_back():
    rng = np.random.default_rng(0)
    rles = []
    for k in range(60):
        h, w = (int(x) for x in rng.integers(1, 90, 2))
        m = rng.random((h, w)) < rng.random()
        if k % 3 == 0:
            m = np.ones((h, w), bool) if k % 2 else np.zeros((h, w), bool)
        rle = to_rle(encode(m), h, w, f"mask {k}", DatasetError)
        rles.append((f"mask {k}", rle))
        assert np.array_equal(mask_util.decode(rle).astype(bool), m)  # pycocotools is the oracle
    check_counts(rles, DatasetError)


def test_uncompressed_and_polygons_go_through_pycocotools():
    m = np.zeros((6, 5), np.uint8)
    m[1:4, 2:5] = 1
    runs = rle_list(m)["counts"]
    rle = to_rle({"size": [6, 5], "counts": runs}, 6, 5, "f", DatasetError)
    assert np.array_equal(mask_util.decode(rle), m)
    poly = to_rle([[2.0, 1.0, 4.0, 1.0, 4.0, 3.0, 2.0, 3.0]], 6, 5, "f", DatasetError)
    assert mask_util.area(poly) > 0
    assert to_rle([[1.0, 2.0]], 6, 5, "f", DatasetError) is None  # no polygon of 3+ points
    with pytest.raises(DatasetError, match=r"^f: uncompressed RLE counts .* = 30"):
        to_rle({"size": [6, 5], "counts": runs[:-1]}, 6, 5, "f", DatasetError)
    with pytest.raises(DatasetError, match=r"^f: RLE size \[6, 5\] .*\[5, 6\]"):
        to_rle({"size": [6, 5], "counts": runs}, 5, 6, "f", DatasetError)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c[:-1],
        lambda c: c + "1",
        lambda c: c[:-2] + c[-1],
        lambda c: "",
        lambda c: "ÿ" + c,
        lambda c: c + "~",
        lambda c: "P" * 12 + c,
    ],
)
def test_malformed_counts_are_named_before_decoding(change):
    m = np.zeros((20, 30), bool)
    m[3:9, 4:20] = True
    good = encode(m)
    bad = dict(good, counts=change(good["counts"]))
    with pytest.raises(DatasetError, match=r"^video 3, frame 1: malformed RLE"):
        check_counts([("video 3, frame 0", good), ("video 3, frame 1", bad)], DatasetError)
