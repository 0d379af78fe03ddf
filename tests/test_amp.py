"""Mixed-precision training on the CPU through the trainer's own autocast + grad-scaler code, the
code that runs on a GPU: an fp16 step whose gradients overflow is skipped, the loss scale halves and
training goes on; a resumed run restores the scaler state exactly and ends with the weights of the
uninterrupted run; bf16 trains without a scaler. The models are tiny (32 px frames, 2 blocks):
low-precision matmuls are slow on CPUs without bf16/fp16 instructions."""

import math
import shutil

import pytest
import torch
from train_fixtures import tiny_cfg

from videomt.engine.hooks import HookBase
from videomt.engine.trainer import Trainer, amp_settings

# Smaller than the trainer tests' tiny config: 2x2 patches per frame.
AMP_TINY = {
    "MODEL.BACKBONE.IMG_SIZE": 32,
    "MODEL.BACKBONE.PATCH_SIZE": 16,
    "INPUT.MIN_SIZE_TRAIN": "(32,)",
    "INPUT.MAX_SIZE_TRAIN": 48,
    "SOLVER.AMP.ENABLED": True,
    "SOLVER.AMP.ON_CPU": True,
    "SOLVER.MAX_ITER": 4,
    "SOLVER.WARMUP_STEPS": "[0, 0]",  # a non-zero learning rate from the first step
    "SOLVER.CHECKPOINT_PERIOD": 3,
}
START_SCALE = 1024.0  # low enough that this model's fp16 gradients never overflow by themselves
OVERFLOW_ITER = 1  # the iteration whose gradients are made infinite


def amp_cfg(output_dir, dtype: str, **extra):
    return tiny_cfg(output_dir, **{**AMP_TINY, "SOLVER.AMP.DTYPE": dtype, **extra})


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class StepRecorder(HookBase):
    """Records per iteration: whether the weights changed, the optimizer steps taken so far, the
    scaler state after the step, and the dtype of the first block's qkv projection output (what
    autocast ran it in). Makes every gradient of the patch embedding infinite at
    ``overflow_iter`` (an fp16 overflow)."""

    def __init__(self, overflow_iter: int | None = None):
        self.overflow_iter = overflow_iter
        self.steps: list[dict] = []

    def before_train(self) -> None:
        core = self.trainer.module.core
        core.encoder.blocks[0].attn.qkv.register_forward_hook(self._record_dtype)
        self._overflow_param = core.encoder.patch_embed.proj.weight

    def _record_dtype(self, module, inputs, output) -> None:
        self._qkv_dtype = output.dtype

    def before_step(self) -> None:
        self._before = weights(self.trainer.module)
        self._handle = None
        if self.trainer.iter == self.overflow_iter:
            self._handle = self._overflow_param.register_hook(
                lambda grad: torch.full_like(grad, math.inf)
            )

    def after_step(self) -> None:
        if self._handle is not None:
            self._handle.remove()
        after = weights(self.trainer.module)
        self.steps.append(
            {
                "iter": self.trainer.iter,
                "changed": any(not torch.equal(after[k], self._before[k]) for k in after),
                "optimizer_steps": max(
                    (int(s["step"]) for s in self.trainer.optimizer.state.values()), default=0
                ),
                "scaler": self.trainer.scaler.state_dict(),
                "qkv_dtype": self._qkv_dtype,
                "weight_dtypes": {v.dtype for v in after.values() if v.is_floating_point()},
            }
        )


def train(cfg, resume: bool, recorder: StepRecorder, start_scale: float | None = None) -> Trainer:
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=resume)
    if start_scale is not None:
        trainer.scaler.load_state_dict(
            {
                "scale": start_scale,
                "growth_factor": 2.0,
                "backoff_factor": 0.5,
                "growth_interval": 2000,
                "_growth_tracker": 0,
            }
        )
    trainer.register_hooks(trainer.build_hooks() + [recorder])
    trainer.train()
    return trainer


@pytest.fixture(scope="module")
def fp16_run(tmp_path_factory):
    """4 fp16 iterations, the second with overflowing gradients; checkpoint after iteration 2."""
    root = tmp_path_factory.mktemp("amp_fp16")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DETECTRON2_DATASETS", str(root / "datasets"))
        recorder = StepRecorder(overflow_iter=OVERFLOW_ITER)
        trainer = train(amp_cfg(root / "full", "float16"), False, recorder, START_SCALE)
    return root, trainer, recorder.steps


@pytest.mark.parametrize(
    "enabled, on_cpu, device, expected",
    [
        (True, False, "cpu", False),  # a published config (AMP on) trains in fp32 on a CPU
        (True, True, "cpu", True),
        (False, True, "cpu", False),
        (True, False, "cuda", True),  # only the device type is read: no GPU needed
    ],
)
def test_amp_settings_cpu_needs_on_cpu(enabled, on_cpu, device, expected):
    cfg = amp_cfg(
        "unused", "bfloat16", **{"SOLVER.AMP.ENABLED": enabled, "SOLVER.AMP.ON_CPU": on_cpu}
    )
    assert amp_settings(cfg, torch.device(device)) == (expected, torch.bfloat16)


def test_fp16_overflow_step_is_skipped_scale_halves_and_training_continues(fp16_run):
    _, trainer, steps = fp16_run
    assert trainer.scaler.is_enabled()  # a "cuda" scaler would disable itself without a GPU
    assert [s["iter"] for s in steps] == [0, 1, 2, 3]
    assert all(s["qkv_dtype"] == torch.float16 for s in steps)  # the forward ran under autocast
    assert all(s["weight_dtypes"] == {torch.float32} for s in steps)  # fp32 master weights
    before, overflow, *after = steps
    assert before["changed"] and before["optimizer_steps"] == 1
    assert before["scaler"]["scale"] == START_SCALE and before["scaler"]["_growth_tracker"] == 1
    assert not overflow["changed"]  # optimizer step skipped: no weight moved, no AdamW step
    assert overflow["optimizer_steps"] == 1
    assert overflow["scaler"]["scale"] == START_SCALE / 2
    assert overflow["scaler"]["_growth_tracker"] == 0
    assert all(s["changed"] for s in after)
    assert [s["optimizer_steps"] for s in after] == [2, 3]
    assert [s["scaler"]["scale"] for s in after] == [START_SCALE / 2] * 2
    assert [s["scaler"]["_growth_tracker"] for s in after] == [1, 2]
    for v in trainer.module.state_dict().values():
        assert torch.isfinite(v).all()


def test_fp16_resume_restores_the_scaler_exactly_and_ends_on_the_same_weights(fp16_run):
    root, full, steps = fp16_run
    resumed_dir = root / "resumed"
    resumed_dir.mkdir()
    shutil.copy(root / "full" / "model_0000002.pth", resumed_dir / "model_0000002.pth")
    (resumed_dir / "last_checkpoint").write_text("model_0000002.pth")
    saved = torch.load(resumed_dir / "model_0000002.pth", weights_only=True)["grad_scaler"]
    assert saved == steps[2]["scaler"]  # scale halved once, one clean step since
    assert saved["scale"] == START_SCALE / 2 and saved["_growth_tracker"] == 1

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DETECTRON2_DATASETS", str(root / "datasets"))
        trainer = Trainer(amp_cfg(resumed_dir, "float16"))
        trainer.resume_or_load(resume=True)
        assert trainer.start_iter == 3
        assert trainer.scaler.state_dict() == saved
        recorder = StepRecorder()
        trainer.register_hooks(trainer.build_hooks() + [recorder])
        trainer.train()
    assert [s["scaler"] for s in recorder.steps] == [steps[3]["scaler"]]
    final, expected = weights(trainer.module), weights(full.module)
    assert final.keys() == expected.keys()
    for k in final:
        torch.testing.assert_close(final[k], expected[k], rtol=0, atol=1e-6, msg=k)


def test_bf16_trains_without_a_scaler(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))
    cfg = amp_cfg(tmp_path / "bf16", "bfloat16", **{"SOLVER.MAX_ITER": 3})
    recorder = StepRecorder()
    trainer = train(cfg, False, recorder)
    assert not trainer.scaler.is_enabled()
    assert [s["iter"] for s in recorder.steps] == [0, 1, 2]
    assert all(s["qkv_dtype"] == torch.bfloat16 for s in recorder.steps)
    assert all(s["changed"] for s in recorder.steps)
    assert all(s["weight_dtypes"] == {torch.float32} for s in recorder.steps)
    losses = [v for v, _ in trainer.storage.history("total_loss").values()]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
