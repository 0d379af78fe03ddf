"""Speed and cost measurements behind ``benchmark.py``: per-frame online latency,
multi-stream throughput and fvcore FLOPs. Timings are never asserted in tests.

Timing follows the paper's protocol: batch 1, one frame at a time with the propagated query state,
the timed region is the per-frame model call (query-free blocks + query blocks + heads + upscaler +
mask einsum; no post-processing) bracketed by device synchronisation (CUDA events on a GPU,
``time.perf_counter`` on a CPU).
"""

from __future__ import annotations

import contextlib
import platform
import resource
import time
import warnings
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch

from ..utils.progress import progress_bar
from .runtime import CoreRunner, FrameStep

__all__ = [
    "Timer",
    "summarize",
    "time_frames",
    "time_online",
    "time_throughput",
    "count_flops",
    "unfused_attention",
    "peak_memory_mb",
    "reset_peak_memory",
    "environment",
    "matmul_rates",
    "describe_matmul_rates",
]


class Timer:
    """Milliseconds of one region: CUDA events on a GPU, ``perf_counter`` on a CPU."""

    def __init__(self, device: torch.device):
        self.cuda = torch.device(device).type == "cuda"

    @contextlib.contextmanager
    def region(self, out: list[float]):
        if self.cuda:
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
            torch.cuda.synchronize()
            out.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            yield
            out.append((time.perf_counter() - t0) * 1000.0)


def summarize(ms: list[float], frames_per_call: int = 1) -> dict:
    """fps (frames / mean time), ms_mean, ms_median, ms_p90 of per-call times."""
    arr = np.asarray(ms, dtype=np.float64)
    mean = float(arr.mean())
    return {
        "fps": 1000.0 * frames_per_call / mean,
        "ms_mean": mean,
        "ms_median": float(np.median(arr)),
        "ms_p90": float(np.percentile(arr, 90)),
        "iters": len(ms),
    }


def time_frames(
    fn: Callable[[], None], device, warmup: int, iters: int, desc: str = "timing"
) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``iters`` times timed; per-call milliseconds."""
    timer = Timer(device)
    times: list[float] = []
    for _ in range(warmup):
        fn()
    for _ in progress_bar(range(iters), desc=desc, unit="it", leave=False):
        with timer.region(times):
            fn()
    return times


def time_online(
    runner: CoreRunner, videos: Iterable[torch.Tensor], warmup: int, iters: int
) -> list[float]:
    """Per-frame milliseconds of the online model call (batch 1) over normalised, padded videos
    (T, 3, H, W) already on the device; each video starts a new stream (state reset)."""
    frames = _frames_with_state_reset(videos)
    state: list[torch.Tensor | None] = [None]

    def one_frame():
        frame, new_video = next(frames)
        _, _, state[0] = runner.step(frame, None if new_video else state[0])

    return time_frames(one_frame, runner.device, warmup, iters, desc="fps")


def _frames_with_state_reset(videos: Iterable[torch.Tensor]) -> Iterator[tuple[torch.Tensor, bool]]:
    """(frame (1, 3, H, W), is first frame of its video), cycling over the videos forever."""
    videos = list(videos)
    while True:
        for video in videos:
            for t in range(video.shape[0]):
                yield video[t : t + 1], t == 0


def time_throughput(
    runner: CoreRunner, frame: torch.Tensor, streams: int, warmup: int, iters: int
) -> list[float]:
    """Milliseconds per step of ``streams`` concurrent streams stepped together (batch B =
    streams)."""
    batch = frame.expand(streams, -1, -1, -1).contiguous()
    state: list[torch.Tensor | None] = [None]

    def one_step():
        _, _, state[0] = runner.step(batch, state[0])

    return time_frames(one_step, runner.device, warmup, iters, desc="throughput")


@contextlib.contextmanager
def unfused_attention(module: torch.nn.Module):
    """Run timm attention as explicit matmuls + softmax (fvcore cannot count fused SDPA)."""
    changed = [m for m in module.modules() if getattr(m, "fused_attn", False)]
    for m in changed:
        m.fused_attn = False
    try:
        yield
    finally:
        for m in changed:
            m.fused_attn = True


def count_flops(core, input_size: tuple[int, int], device="cpu") -> dict:
    """fvcore FLOPs (1 multiply-add = 1 flop) of one steady-state frame (batch 1, a propagated
    state) through :class:`FrameStep`, attention counted; and the parameter count."""
    with warnings.catch_warnings():  # fvcore.nn scripts a loss at import: torch's deprecation
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", FutureWarning)
        from fvcore.nn import FlopCountAnalysis

    step = FrameStep(core).eval()
    frame = torch.zeros(1, 3, *input_size, device=device)
    state = core.initial_state(1).detach().clone()
    with unfused_attention(core), torch.no_grad():
        analysis = FlopCountAnalysis(step, (frame, state))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        total = analysis.total()
    return {
        "gflops_per_frame": total / 1e9,
        "gflops_by_operator": {k: v / 1e9 for k, v in sorted(analysis.by_operator().items())},
        "params": int(sum(p.numel() for p in core.parameters())),
        "uncounted_ops": sorted(analysis.unsupported_ops()),
    }


def reset_peak_memory(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device) -> tuple[float, str]:
    """(peak MB, what it measures): CUDA max allocated on a GPU, the process's max RSS on a CPU."""
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_memory_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "process_max_rss"


def environment(device) -> dict:
    device = torch.device(device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (platform.processor() or platform.machine())
    )
    if device.type == "cpu":
        name = _cpu_name() or name
    return {
        "device": str(device),
        "device_name": name,
        "torch_version": torch.__version__,
        "num_threads": torch.get_num_threads(),
    }


def _cpu_name() -> str | None:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return None


def matmul_rates(size: int = 1024, repeats: int = 3) -> dict:
    """Multiply-adds per second of a ``size`` x ``size`` matmul on the CPU in fp32 and in bf16 (the
    best of ``repeats`` after a warm-up, at the current thread count) and their ratio: the most
    that bf16 inference can gain over fp32 on this CPU (about 1x without native bf16 units; 2-10x
    with AVX512-BF16 / AMX), to read next to every CPU timing."""
    out = {"size": size, "num_threads": torch.get_num_threads(), "cpu": _cpu_name()}
    g = torch.Generator().manual_seed(0)
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(size, size, generator=g).to(dtype)  # (size, size)
        b = torch.randn(size, size, generator=g).to(dtype)
        a @ b  # warm-up (kernel selection, first-touch of the output)
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            seconds.append(time.perf_counter() - start)
        out[f"{name}_gmacs_per_s"] = size**3 / min(seconds) / 1e9
    out["bf16_over_fp32"] = out["bf16_gmacs_per_s"] / out["fp32_gmacs_per_s"]
    return out


def describe_matmul_rates(rates: dict) -> str:
    """One line for :func:`matmul_rates`' result: the CPU, the thread count, both rates and their
    ratio."""
    return (
        f"{rates['cpu']}, {rates['num_threads']} thread(s): fp32 {rates['fp32_gmacs_per_s']:.1f}, "
        f"bf16 {rates['bf16_gmacs_per_s']:.1f} GMAC/s ({rates['size']}^2 matmul), "
        f"bf16/fp32 {rates['bf16_over_fp32']:.2f}x"
    )
