"""Training cost per iteration of one or more configs: time and memory of a full optimizer step
(forward with the losses, backward, AdamW step) on generated clips.

    python tools/bench_training.py --config-file configs/quickstart/synthetic_vis.yaml \
        configs/quickstart/synthetic_vis_pmt.yaml --size 96 128 --iters 20

Configs run in turn (rotating the order every round, so load changes hit all alike). Reported per
config: median wall and process-CPU seconds per iteration, trainable / frozen parameters, the
bytes autograd keeps for the backward pass (saved activations, counted by storage), the bytes of
gradients + AdamW state, and on CUDA the peak allocated memory. Prints a Markdown table and, with
``--json``, writes the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Light modules only: a config typo is one line before torch and the model stack load (the
# functions below import torch where they use it).
from videomt.cli import run_cli  # noqa: E402
from videomt.config import load_config  # noqa: E402
from videomt.utils.files import require_writable_file, write_json  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config-file", nargs="+", required=True)
    p.add_argument("--size", nargs=2, type=int, default=(96, 128), metavar=("H", "W"))
    p.add_argument("--clips", type=int, default=2, help="clips per iteration")
    p.add_argument("--frames", type=int, default=2, help="frames per clip")
    p.add_argument("--objects", type=int, default=3, help="objects per clip")
    p.add_argument("--iters", type=int, default=10, help="timed iterations per config")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations per config")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default="", help="write the results here")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides for every config")
    return p.parse_args(argv)


def make_clips(num_clips, num_frames, num_objects, size, num_classes, seed=0) -> list[dict]:
    """Random frames with random boxes as instance masks (uint8 frames, bool masks)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    h, w = size
    clips = []
    for c in range(num_clips):
        image = torch.randint(0, 256, (num_frames, 3, h, w), dtype=torch.uint8, generator=g)
        masks = torch.zeros(num_objects, num_frames, h, w, dtype=torch.bool)
        for n in range(num_objects):
            y0, x0 = (int(torch.randint(0, s // 2, (1,), generator=g)) for s in (h, w))
            masks[n, :, y0 : y0 + h // 3, x0 : x0 + w // 3] = True
        clips.append(
            {
                "image": image,
                "instances": {
                    "ids": torch.arange(num_objects)[:, None].expand(-1, num_frames).clone(),
                    "labels": torch.randint(0, num_classes, (num_objects,), generator=g),
                    "masks": masks,
                },
                "sample_position": c,
            }
        )
    return clips


class SavedBytes:
    """Bytes of the distinct storages autograd saves for backward while active."""

    def __init__(self):
        self.storages: dict[int, int] = {}

    def pack(self, tensor: torch.Tensor):
        storage = tensor.untyped_storage()
        self.storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    @property
    def total(self) -> int:
        return sum(self.storages.values())


class Runner:
    def __init__(self, config_file: str, args: argparse.Namespace):
        opts = ["MODEL.DEVICE", args.device, "MODEL.BACKBONE.PRETRAINED", "", *args.opts]
        self.cfg = load_config(config_file, opts)
        import torch

        from videomt.engine.optimizer import build_optimizer
        from videomt.model import build_model

        self.name = os.path.splitext(os.path.basename(config_file))[0]
        torch.manual_seed(0)
        self.model = build_model(self.cfg).train()
        self.optimizer = build_optimizer(self.cfg, self.model)
        self.clips = make_clips(
            args.clips,
            args.frames,
            args.objects,
            args.size,
            self.cfg.MODEL.BACKBONE.NUM_CLASSES,
        )
        self.wall, self.cpu, self.saved = [], [], 0

    def step(self, timed: bool) -> None:
        import torch

        device = self.model.device
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall, cpu = time.perf_counter(), time.process_time()
        saved = SavedBytes()
        with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
            losses = self.model(self.clips)
        sum(losses.values()).backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if timed:
            self.wall.append(time.perf_counter() - wall)
            self.cpu.append(time.process_time() - cpu)
        self.saved = max(self.saved, saved.total)

    def result(self) -> dict:
        import torch

        trainable = [p for p in self.model.parameters() if p.requires_grad]
        state_bytes = sum(
            t.numel() * t.element_size()
            for s in self.optimizer.state.values()
            for t in s.values()
            if torch.is_tensor(t)
        )
        out = {
            "config": self.name,
            "wall_s": statistics.median(self.wall),
            "cpu_s": statistics.median(self.cpu),
            "trainable_params": sum(p.numel() for p in trainable),
            "frozen_params": sum(p.numel() for p in self.model.parameters() if not p.requires_grad),
            "saved_activations_mb": self.saved / 2**20,
            "grads_and_adamw_mb": (
                sum(p.numel() * p.element_size() for p in trainable) + state_bytes
            )
            / 2**20,
        }
        if self.model.device.type == "cuda":
            out["cuda_peak_mb"] = torch.cuda.max_memory_allocated(self.model.device) / 2**20
        return out


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.json:  # before the run, so that its results have somewhere to go
        require_writable_file(args.json, "--json")
    for config_file in args.config_file:  # every config's mistakes before any model is built
        load_config(config_file, ["MODEL.DEVICE", args.device, *args.opts])
    runners = [Runner(f, args) for f in args.config_file]
    for r in runners:
        for _ in range(args.warmup):
            r.step(timed=False)
    for i in range(args.iters):
        for r in runners[i % len(runners) :] + runners[: i % len(runners)]:
            r.step(timed=True)
    results = [r.result() for r in runners]
    print(
        "| config | wall s/iter | CPU s/iter | trainable | frozen | saved activations MB "
        "| grads + AdamW MB |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['config']} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} | "
            f"{r['trainable_params'] / 1e6:.2f} M | {r['frozen_params'] / 1e6:.2f} M | "
            f"{r['saved_activations_mb']:.1f} | {r['grads_and_adamw_mb']:.1f} |"
        )
    if args.json:
        write_json(args.json, {"args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    run_cli(main)
