"""Extension points of the trainer, as Detectron2's: overridable ``build_*`` classmethods, and an
event storage that any module can log a metric to while training."""

import json
import os

import pytest
import torch
from train_fixtures import tiny_cfg


def test_overridden_builders_are_used_and_a_module_metric_reaches_metrics_json(tmp_path, datasets):
    from videomt.engine.events import get_event_storage
    from videomt.engine.trainer import Trainer

    calls = []

    class MyTrainer(Trainer):
        @classmethod
        def build_model(cls, cfg):
            model = super().build_model(cfg)

            def log_mean_logit(module, inputs, outputs):
                # a module logging its own metric, as any code under training can
                get_event_storage().put_scalar("my_module_metric", 3.5)

            model.core.register_forward_hook(log_mean_logit)
            calls.append("model")
            return model

        @classmethod
        def build_optimizer(cls, cfg, model):
            calls.append("optimizer")
            return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)

        @classmethod
        def build_lr_scheduler(cls, cfg, optimizer):
            calls.append("lr_scheduler")
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: 1.0)

        @classmethod
        def build_train_loader(cls, cfg, start_iter=0):
            calls.append(f"train_loader from {start_iter}")
            return super().build_train_loader(cfg, start_iter)

    out = tmp_path / "run"
    trainer = MyTrainer(tiny_cfg(out, **{"SOLVER.MAX_ITER": 2, "SOLVER.LOG_PERIOD": 1}))
    before = {k: v.clone() for k, v in trainer.module.state_dict().items()}
    trainer.resume_or_load(resume=False)
    trainer.train()
    assert calls == ["model", "optimizer", "lr_scheduler", "train_loader from 0"]
    after = trainer.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # SGD with lr 0: unchanged
    with open(os.path.join(out, "metrics.json")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    assert [r["iteration"] for r in records] == [0, 1]
    assert all(r["my_module_metric"] == 3.5 for r in records)


def test_get_event_storage_outside_training_is_an_error():
    from videomt.engine.events import EventStorage, get_event_storage

    with pytest.raises(RuntimeError, match="only available while training"):
        get_event_storage()
    with EventStorage(7) as outer:
        assert get_event_storage() is outer
        with EventStorage(0) as inner:
            assert get_event_storage() is inner
        assert get_event_storage() is outer
    with pytest.raises(RuntimeError):
        get_event_storage()


def test_overridden_build_evaluator_is_used_by_test(tmp_path, monkeypatch):
    from videomt.engine import evaluate as evaluate_module
    from videomt.engine.trainer import Trainer

    seen = []

    class RecordingEvaluator:
        pass

    class MyTrainer(Trainer):
        @classmethod
        def build_evaluator(cls, cfg, dataset_name, output_dir):
            seen.append(dataset_name)
            return RecordingEvaluator()

    def fake_inference(model, loader, evaluator):
        assert isinstance(evaluator, RecordingEvaluator)
        return {}

    monkeypatch.setattr(evaluate_module, "build_test_loader", lambda cfg, name: [])
    monkeypatch.setattr(evaluate_module, "inference_on_dataset", fake_inference)
    cfg = tiny_cfg(tmp_path, **{"DATASETS.TEST": '("a_set", "b_set")'})
    assert MyTrainer.test(cfg, model=None) == {"a_set": {}, "b_set": {}}
    assert seen == ["a_set", "b_set"]
