#!/usr/bin/env python
"""Try a model in the browser (Gradio, optional: ``pip install gradio``): pick a config and
weights, upload a video or record one with the webcam, get the segmented video back (VIS, VPS or
VSS: the config's task) with a progress bar.

    python tools/web_demo.py --config configs/ytvis19/videomt_dinov2_small.yaml \\
        --weights yt_2019_vit_small_52.8.pth          # then open http://127.0.0.1:7860
    python tools/web_demo.py --config a.yaml --config b.yaml --weights hf://org/name \\
        --host 0.0.0.0 --port 8080 MODEL.DEVICE cuda

Several ``--config`` give a choice in the page (default: the three quickstart configs); the
weights field takes a file, a URL, ``hf://org/name`` or a published folder's weights (empty:
random weights, for trying the page). Trailing ``KEY VALUE`` pairs override every config.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home

# Light modules only: a bad config is reported before the model stack (timm, torchvision) loads;
# the segmenting code imports it when first used.
from videomt.cli import run_cli  # noqa: E402
from videomt.config import load_config  # noqa: E402
from videomt.errors import UserError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTARTS = [
    os.path.join("configs", "quickstart", f"synthetic_{task}.yaml")
    for task in ("vis", "vps", "vss")
]
TASK_NAMES = {"vis": "instance (VIS)", "vps": "panoptic (VPS)", "vss": "semantic (VSS)"}


class Segmenter:
    """Segments an uploaded video with the chosen config and weights; keeps the last predictor
    (building one reads the weights)."""

    def __init__(self, opts: list[str], device: str | None = None, max_frames: int | None = None):
        self.opts, self.device, self.max_frames = list(opts), device, max_frames
        self._key: tuple[str, str] | None = None
        self._predictor = None  # a VideoPredictor, once one is built

    def predictor(self, config: str, weights: str):
        """The ``VideoPredictor`` of ``config`` and ``weights``."""
        from videomt.inference import VideoPredictor

        if self._key != (config, weights):
            cfg = load_config(config, self.opts)
            self._predictor = VideoPredictor(cfg, weights or None, device=self.device)
            self._key = (config, weights)
        return self._predictor

    def __call__(
        self,
        video: str | None,
        config: str,
        weights: str,
        confidence: float,
        progress=lambda fraction, desc="": None,
    ) -> str:
        """Path of the segmented MP4 of ``video``; bad input raises a ``UserError`` (one
        line)."""
        from videomt.inference import open_video
        from videomt.inference.video_io import VideoInputError
        from videomt.inference.visualize import draw_result
        from videomt.inference.writers import open_writer

        if not video:
            raise UserError("no video: upload one or record one with the webcam first")
        source = open_video(video, self.max_frames)
        progress(0.0, desc="loading the model")
        predictor = self.predictor(config, weights.strip())
        total = source.num_frames or 0
        out = os.path.join(tempfile.mkdtemp(prefix="videomt_web_"), "segmented.mp4")
        progress(0.0, desc="segmenting")
        with open_writer(out, source.fps or 10.0) as writer:
            for t, (frame, result) in enumerate(zip(source, predictor(source))):
                writer.write(draw_result(frame, result, predictor.class_names, confidence))
                if total:
                    progress((t + 1) / total, desc=f"frame {t + 1} / {total}")
        if writer.count == 0:
            raise VideoInputError(f"{os.path.basename(video)}: no frame could be decoded")
        return out


def build_app(configs: list[str], weights: str, segmenter: Segmenter):
    """The Gradio page (``gradio.Blocks``)."""
    import gradio as gr

    def task_of(config: str) -> str:
        return TASK_NAMES.get(load_config(config, segmenter.opts).MODEL.BACKBONE.TEST.TASK, "?")

    def run(video, config, weights, confidence, progress=gr.Progress()):  # noqa: B008
        try:
            return segmenter(video, config, weights, confidence, progress)
        except UserError as e:  # a bug keeps its traceback (in the server log)
            raise gr.Error(str(e).strip().splitlines()[0] if str(e).strip() else repr(e)) from None

    with gr.Blocks(title="VidEoMT") as app:
        gr.Markdown(
            "# VidEoMT video segmentation\nUpload a video (or use the webcam), press Segment."
        )
        with gr.Row():
            with gr.Column():
                config = gr.Dropdown(configs, value=configs[0], label="config", elem_id="config")
                task = gr.Markdown(f"Task: {task_of(configs[0])}")
                weights_box = gr.Textbox(
                    value=weights, label="weights (file, URL or hf://org/name)", elem_id="weights"
                )
                confidence = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="confidence")
                video = gr.Video(sources=["upload", "webcam"], label="input", elem_id="upload")
                button = gr.Button("Segment", variant="primary", elem_id="segment")
            result = gr.Video(label="segmented", interactive=False, elem_id="result")
        config.change(lambda c: f"Task: {task_of(c)}", config, task)
        button.click(run, [video, config, weights_box, confidence], result)
    return app


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", action="append", default=None, help="a config to offer (repeatable)")
    p.add_argument("--weights", default="", help="initial weights (empty: random weights)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: MODEL.DEVICE)")
    p.add_argument("--max-frames", type=int, default=None, help="segment at most this many")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE overrides")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    configs = args.config or [os.path.join(ROOT, c) for c in QUICKSTARTS]
    for c in configs:
        load_config(c, args.opts)  # a bad config or override: one line before serving
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError("the web demo needs gradio (pip install gradio)") from None
    app = build_app(configs, args.weights, Segmenter(args.opts, args.device, args.max_frames))
    app.queue().launch(server_name=args.host, server_port=args.port, show_error=True)
    return 0


if __name__ == "__main__":
    run_cli(main)
