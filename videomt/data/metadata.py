"""Class lists, colours and id mappings of the reference datasets (SPEC 5.2 and 5.4).

* YouTube-VIS 2019 / 2021 (also 2022) and OVIS: dataset ids ``1..K`` in list order, contiguous = id - 1.
* COCO -> target mappings: COCO category id -> TARGET dataset id; contiguous = target id - 1.
* VIPSeg / VSPW: 124 classes, raw ids 0..123 (VIPSeg order, 0 = wall); contiguous = the 58 things,
  then the 66 stuff classes, each by ascending raw id.
"""
from __future__ import annotations

import colorsys
from typing import Any

import numpy as np

YTVIS_2019_CLASSES: tuple[str, ...] = (
    "person", "giant_panda", "lizard", "parrot", "skateboard", "sedan", "ape", "dog", "snake", "monkey", "hand",
    "rabbit", "duck", "cat", "cow", "fish", "train", "horse", "turtle", "bear", "motorbike", "giraffe", "leopard",
    "fox", "deer", "owl", "surfboard", "airplane", "truck", "zebra", "tiger", "elephant", "snowboard", "boat",
    "shark", "mouse", "frog", "eagle", "earless_seal", "tennis_racket",
)

YTVIS_2021_CLASSES: tuple[str, ...] = (
    "airplane", "bear", "bird", "boat", "car", "cat", "cow", "deer", "dog", "duck", "earless_seal", "elephant",
    "fish", "flying_disc", "fox", "frog", "giant_panda", "giraffe", "horse", "leopard", "lizard", "monkey",
    "motorbike", "mouse", "parrot", "person", "rabbit", "shark", "skateboard", "snake", "snowboard", "squirrel",
    "surfboard", "tennis_racket", "tiger", "train", "truck", "turtle", "whale", "zebra",
)

OVIS_CLASSES: tuple[str, ...] = (
    "Person", "Bird", "Cat", "Dog", "Horse", "Sheep", "Cow", "Elephant", "Bear", "Zebra", "Giraffe", "Poultry",
    "Giant_panda", "Lizard", "Parrot", "Monkey", "Rabbit", "Tiger", "Fish", "Turtle", "Bicycle", "Motorcycle",
    "Airplane", "Boat", "Vehical",
)

COCO_TO_YTVIS_2019: dict[int, int] = {
    1: 1, 2: 21, 3: 6, 4: 21, 5: 28, 7: 17, 8: 29, 9: 34, 17: 14, 18: 8, 19: 18, 21: 15, 22: 32, 23: 20, 24: 30,
    25: 22, 35: 33, 36: 33, 41: 5, 42: 27, 43: 40,
}
COCO_TO_YTVIS_2021: dict[int, int] = {
    1: 26, 2: 23, 3: 5, 4: 23, 5: 1, 7: 36, 8: 37, 9: 4, 16: 3, 17: 6, 18: 9, 19: 19, 21: 7, 22: 12, 23: 2, 24: 40,
    25: 18, 34: 14, 35: 31, 36: 31, 41: 29, 42: 33, 43: 34,
}
COCO_TO_OVIS: dict[int, int] = {
    1: 1, 2: 21, 3: 25, 4: 22, 5: 23, 6: 25, 8: 25, 9: 24, 17: 3, 18: 4, 19: 5, 20: 6, 21: 7, 22: 8, 23: 9, 24: 10,
    25: 11,
}
COCO_TO_TARGET: dict[str, dict[int, int]] = {"ytvis_2019": COCO_TO_YTVIS_2019, "ytvis_2021": COCO_TO_YTVIS_2021,
                                              "ovis": COCO_TO_OVIS}
TARGET_CLASSES: dict[str, tuple[str, ...]] = {"ytvis_2019": YTVIS_2019_CLASSES, "ytvis_2021": YTVIS_2021_CLASSES,
                                              "ovis": OVIS_CLASSES}

# VIPSeg (= VSPW) raw class names, index = raw id. The thing/stuff split (VIPSEG_THING_IDS) is exact
# (SPEC 5.4); spelling and case of a few long names are unverified against the official file.
VIPSEG_CLASSES: tuple[str, ...] = (
    "wall", "ceiling", "door", "stair", "ladder", "escalator", "Playground_slide", "handrail_or_fence", "window",
    "rail", "goal", "pillar", "pole", "floor", "ground", "grass", "sand", "athletic_field", "road", "path",
    "crosswalk", "building", "house", "bridge", "tower", "windmill", "well_or_well_lid", "other_construction",
    "sky", "mountain", "stone", "wood", "ice", "snowfield", "grandstand", "sea", "river", "lake", "waterfall",
    "water", "billboard_or_Bulletin_Board", "sculpture", "pipeline", "flag", "parasol_or_umbrella",
    "cushion_or_carpet", "tent", "roadblock", "car", "bus", "truck", "bicycle", "motorcycle", "wheeled_machine",
    "ship_or_boat", "raft", "airplane", "tyre", "traffic_light", "lamp", "person", "cat", "dog", "horse", "cattle",
    "other_animal", "tree", "flower", "other_plant", "toy", "ball_net", "backboard", "skateboard", "bat", "ball",
    "cupboard_or_showcase_or_storage_rack", "box", "traveling_case_or_trolley_case", "basket", "bag_or_package",
    "trash_can", "cage", "plate", "tub_or_bowl_or_pot", "bottle_or_cup", "barrel", "fishbowl", "bed", "pillow",
    "table_or_desk", "chair_or_seat", "bench", "sofa", "shelf", "bathtub", "gun", "commode", "roaster",
    "other_machine", "refrigerator", "washing_machine", "Microwave_oven", "fan", "curtain", "textiles", "clothes",
    "painting_or_poster", "mirror", "flower_pot_or_vase", "clock", "book", "tool", "blackboard", "tissue",
    "screen_or_television", "computer", "printer", "Mobile_phone", "keyboard", "other_electronic_product", "fruit",
    "food", "instrument", "train",
)
VIPSEG_THING_IDS: tuple[int, ...] = (
    2, 4, 8, 10, 41, 43, 44, 46, 47, 48, 49, 50, 51, 52, 54, 55, 56, 60, 61, 62, 63, 64, 65, 72, 74, 76, 77, 78, 79,
    82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 95, 96, 97, 99, 100, 101, 102, 106, 107, 108, 109, 114, 115, 116,
    117, 118, 122, 123,
)


def palette(n: int, seed: int = 0) -> list[list[int]]:
    """``n`` distinct, deterministic RGB colours (golden-ratio hue spacing). They are ours, not the reference's:
    they only affect visualisation and the colours of written PNGs."""
    out = []
    for i in range(n):
        h = (seed * 0.1 + i * 0.618033988749895) % 1.0
        s = 0.55 + 0.35 * ((i * 7) % 5) / 4.0
        v = 0.95 - 0.3 * ((i * 3) % 4) / 3.0
        out.append([int(round(255 * c)) for c in colorsys.hsv_to_rgb(h, s, v)])
    return out


def thing_metadata(classes: tuple[str, ...] | list[str], ids: list[int] | None = None) -> dict:
    """Metadata for an instance dataset whose category ids are ``ids`` (default ``1..K``)."""
    ids = list(ids) if ids is not None else list(range(1, len(classes) + 1))
    colors = palette(len(classes))
    return {
        "thing_classes": list(classes),
        "thing_colors": colors,
        "thing_dataset_id_to_contiguous_id": {d: i for i, d in enumerate(ids)},
        "categories": [{"id": d, "name": n, "isthing": 1, "color": c} for d, n, c in zip(ids, classes, colors)],
    }


def things_first_metadata(categories: list[dict[str, Any]]) -> dict:
    """Panoptic/semantic metadata from raw categories ``[{"id", "name", "isthing"[, "color"]}]``,
    contiguous = things, then stuff, each by ascending raw id. ``stuff_classes`` / ``stuff_colors``
    list ALL classes (Detectron2 / Mask2Former convention), ``thing_classes`` the things only;
    ``raw_value_to_contiguous`` maps PNG values (256 entries): v -> contiguous id of raw v-1, else 255."""
    cats = sorted(categories, key=lambda c: c["id"])
    colors = palette(len(cats))
    cats = [dict(c, color=list(c.get("color") or colors[i])) for i, c in enumerate(cats)]
    things = [c for c in cats if c.get("isthing")]
    ordered = things + [c for c in cats if not c.get("isthing")]
    raw_to_contig = {c["id"]: i for i, c in enumerate(ordered)}
    lut = np.full(256, 255, dtype=np.uint8)
    for raw, contig in raw_to_contig.items():
        if 0 <= raw + 1 < 255:
            lut[raw + 1] = contig
    return {
        "categories": cats,
        "thing_classes": [c["name"] for c in things],
        "thing_colors": [c["color"] for c in things],
        "stuff_classes": [c["name"] for c in ordered],
        "stuff_colors": [c["color"] for c in ordered],
        "thing_dataset_id_to_contiguous_id": {c["id"]: raw_to_contig[c["id"]] for c in things},
        "stuff_dataset_id_to_contiguous_id": raw_to_contig,
        "contiguous_id_to_dataset_id": [c["id"] for c in ordered],
        "num_things": len(things),
        "num_classes": len(ordered),
        "raw_value_to_contiguous": lut,
        "ignore_label": 255,
    }


def vipseg_categories() -> list[dict[str, Any]]:
    """The 124 VIPSeg/VSPW raw categories ``{"id", "name", "isthing", "color"}`` (raw-id order)."""
    colors = palette(len(VIPSEG_CLASSES))
    return [{"id": i, "name": n, "isthing": int(i in VIPSEG_THING_IDS), "color": colors[i]}
            for i, n in enumerate(VIPSEG_CLASSES)]
