"""The ``vidgru`` command line. The only module that parses arguments and prints for humans.

Exit codes: 0 success; 1 some inputs failed (the others were processed); 2 bad usage, configuration or
environment (nothing was processed); 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import typing
from pathlib import Path

import click

from vidgru.config import RUNTIMES, ClassifyConfig, TrainConfig, build_config
from vidgru.errors import VidgruError

EXIT_SOME_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class _Group(click.Group):
    """Turns vidgru errors into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VidgruError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="vidgru")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """vidgru: video classification and tracking with pretrained CNN embeddings and GRU temporal models.

    \b
    Exit codes: 0 success, 1 some inputs failed (the rest were processed),
                2 bad usage/configuration, 130 interrupted.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        # OpenCV and FFmpeg print their own warnings for every unreadable file or missing camera; vidgru
        # already reports those in one line. -vv shows them. (Read when cv2 is first imported, i.e. later.)
        os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def main() -> None:
    cli(prog_name="vidgru")


# ------------------------------------------------------------------------------------ config-backed options


def config_options(cls: type, helps: dict[str, str], *, skip: tuple[str, ...] = ()):
    """Add one ``--flag`` per dataclass field of ``cls`` (default None, so an unset flag never overrides a
    value from ``--config``). Help texts come from ``helps``; the dataclass default is shown."""
    hints = typing.get_type_hints(cls)

    def decorate(f):
        for field in reversed(dataclasses.fields(cls)):
            if field.name in skip:
                continue
            annotation = hints[field.name]
            args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
            base = args[0]
            flag = "--" + field.name.replace("_", "-")
            metavar = "PATH" if field.name in ("json", "csv", "out_video", "model", "weights", "out") else None
            default = field.default
            text = helps.get(field.name, "")
            text = f"{text} [default: {default}]" if default is not None else text
            if base is bool:
                f = click.option(f"{flag}/--no-{flag[2:]}", field.name, default=None, help=text)(f)
            else:
                f = click.option(flag, field.name, type=base, default=None, help=text, metavar=metavar)(f)
        return f

    return decorate


def _overrides(cls: type, kwargs: dict) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in kwargs.items() if k in names}


CONFIG_HELP = "YAML file with any of these options (flags given here override it)."

# ------------------------------------------------------------------------------------------------- info


@cli.command()
def info() -> None:
    """Versions, compute devices, backbones and whether their weights are on this machine."""
    import cv2
    import torch
    import torchvision

    from vidgru import __version__
    from vidgru.backbone import BACKBONES, DEFAULT_BACKBONE, resolve_device, weights_status
    from vidgru.classify import default_model_path

    click.echo(f"vidgru {__version__}  (python {sys.version.split()[0]})")
    click.echo(f"torch {torch.__version__}  torchvision {torchvision.__version__}  opencv {cv2.__version__}")
    try:
        import onnxruntime

        click.echo(f"onnxruntime {onnxruntime.__version__}")
    except ImportError:
        click.echo("onnxruntime not installed (optional: pip install 'vidgru[onnx]')")
    click.echo("devices:")
    click.echo("  cpu: yes")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            click.echo(f"  cuda:{i}: {torch.cuda.get_device_name(i)}")
    else:
        click.echo("  cuda: not available")
    mps = getattr(torch.backends, "mps", None)
    click.echo(f"  mps: {'yes' if mps is not None and mps.is_available() else 'not available'}")
    click.echo(f"  auto -> {resolve_device('auto')}")
    click.echo("backbones (default ImageNet weights):")
    for name in BACKBONES:
        mark = " (default)" if name == DEFAULT_BACKBONE else ""
        click.echo(f"  {name:<20}{weights_status(name)}{mark}")
    try:
        click.echo(f"default clip model: {default_model_path()}")
    except VidgruError:
        click.echo("default clip model: not installed")


# -------------------------------------------------------------------------------------------- classify

CLASSIFY_HELPS = {
    "model": "Trained clip model (.pt from `vidgru train`). Default: the camera-motion model shipped with vidgru.",
    "window_s": "Window length in seconds. Default: as the model was trained.",
    "stride_s": "Seconds between window starts. Default: as the model was trained.",
    "sample_fps": "Frames per second fed to the model. Default: as the model was trained.",
    "fps": "Frame rate to assume when the file's own is wrong or missing (image folders: default 25).",
    "weights": "Backbone weights file, if the model was trained on custom weights.",
    "device": "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.",
    "precision": "auto (fp16 on CUDA, fp32 elsewhere), fp32, fp16 or bf16.",
    "runtime": "Backbone runtime: auto (ONNX Runtime on a CPU when installed, else PyTorch), torch or onnx.",
    "batch_size": "Frames per backbone forward pass.",
    "top_k": "Classes listed per video in the table.",
    "json": "Write JSON Lines here, one object per input ('-' = stdout; the table then goes to stderr).",
    "csv": "Write a CSV of clip, segment and window rows here.",
    "out_video": "Write the video with the current label drawn on it (with several inputs: a folder, "
                 "<name>.annotated.mp4 in it).",
}


def _print_result(result, top_k: int, out=None) -> None:
    echo = (lambda s: click.echo(s, err=True)) if out == "stderr" else click.echo
    ranked = sorted(result.scores.items(), key=lambda kv: -kv[1])[:top_k]
    others = ", ".join(f"{k} {v:.2f}" for k, v in ranked[1:])
    echo(f"{result.video}: {result.label} ({result.score:.2f})" + (f"   [{others}]" if others else ""))
    echo(f"  {'start':>8}  {'end':>8}  {'label':<16} score")
    for seg in result.segments:
        echo(f"  {seg.start_s:7.2f}s  {seg.end_s:7.2f}s  {seg.label:<16} {seg.score:.2f}")


def _write_annotated(source: str, result, path: Path, fps: float | None) -> None:
    from vidgru.sinks import VideoSink, draw_label
    from vidgru.video import VideoSource

    with VideoSource(source, fps=fps) as src, VideoSink(path, src.info.fps) as sink:
        duration = max(result.duration_s, 1e-6)
        seg_i = 0
        for frame in src:
            while seg_i < len(result.segments) - 1 and frame.timestamp_s >= result.segments[seg_i].end_s:
                seg_i += 1
            seg = result.segments[seg_i]
            sink.write(draw_label(frame.image, f"{seg.label} {seg.score:.2f}",
                                  progress=frame.timestamp_s / duration))


def _classify_live(clf, source, fps, jsonl, *, echo_table: bool) -> None:
    """One line (and JSON record) per stride until the source ends; Ctrl-C stops cleanly."""
    click.echo(f"classifying {source} live: one line every {clf.stride_s:g} s, Ctrl-C to stop", err=True)
    try:
        for w in clf.stream(source, fps=fps):
            record = {"video": str(source), "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3),
                      "label": w.label, "score": round(w.score, 4)}
            if jsonl is not None:
                jsonl.write_record(record)
            if echo_table:
                click.echo(f"{w.start_s:8.2f}s  {w.label:<16} {w.score:.2f}")
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@config_options(ClassifyConfig, CLASSIFY_HELPS)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def classify(inputs, config_file, quiet, **kwargs) -> None:
    """Classify whole videos: a label, per-window scores and a timeline of segments.

    INPUTS are video files, folders (every video under them; a folder of images is one sequence), image
    globs in quotes ('frames/*.jpg'), camera indices or stream URLs (live: prints a line per window until
    stopped). A bad input is reported and skipped; the exit code is then 1.

    \b
    Examples:
      vidgru classify clip.mp4
      vidgru classify a.mp4 b.avi frames_dir/ --model my_model.pt --json -
      vidgru classify videos/ --csv results.csv --out-video annotated/
    """
    from contextlib import ExitStack, nullcontext

    from tqdm import tqdm

    from vidgru.classify import ClipClassifier
    from vidgru.sinks import CLASSIFY_CSV_HEADER, CsvSink, JsonlSink, classify_csv_rows
    from vidgru.video import expand_inputs, is_live_source

    cfg = build_config(ClassifyConfig, config_file, **_overrides(ClassifyConfig, kwargs))
    json_out, csv_out, out_video = cfg.json, cfg.csv, cfg.out_video
    sources, failures = [], []
    for item in inputs:
        try:
            sources.extend(expand_inputs([item]))
        except VidgruError as exc:
            failures.append(item)
            click.echo(f"error: {exc}", err=True)
    unexpandable = len(failures)
    if not sources:
        sys.exit(EXIT_SOME_FAILED if failures else EXIT_ERROR)
    if cfg.model is None:
        click.echo("using the default camera-motion model (pass --model for your own)", err=True)
    clf = ClipClassifier.from_path(
        cfg.model, window_s=cfg.window_s, stride_s=cfg.stride_s, sample_fps=cfg.sample_fps, weights=cfg.weights,
        device=cfg.device, precision=cfg.precision, runtime=cfg.runtime, batch_size=cfg.batch_size,
    )
    table_to = "stderr" if json_out == "-" else None
    live = [s for s in sources if is_live_source(s)]
    if live and len(sources) > 1:
        raise VidgruError("a live source (camera or stream) must be the only input")
    if live:
        with JsonlSink(json_out) if json_out else nullcontext() as jsonl:
            _classify_live(clf, live[0], cfg.fps, jsonl, echo_table=json_out != "-")
        return

    video_dir = Path(out_video) if out_video and len(sources) > 1 else None
    with ExitStack() as stack:
        jsonl = stack.enter_context(JsonlSink(json_out)) if json_out else None
        table = stack.enter_context(CsvSink(csv_out, CLASSIFY_CSV_HEADER)) if csv_out else None
        for source in sources:
            bar = tqdm(desc=Path(source).name, unit="frame", disable=quiet, leave=False)
            try:
                result = clf.classify(source, fps=cfg.fps, progress=bar)
                if out_video:
                    target = video_dir / f"{Path(source).stem}.annotated.mp4" if video_dir else Path(out_video)
                    _write_annotated(source, result, target, cfg.fps)
            except VidgruError as exc:
                bar.close()
                failures.append(source)
                click.echo(f"error: {exc}", err=True)
                continue
            bar.close()
            if jsonl:
                jsonl.write_record(result.to_dict())
            if table:
                for row in classify_csv_rows(result):
                    table.write_row(row)
            _print_result(result, cfg.top_k, out=table_to)
    if failures:
        total = len(sources) + unexpandable
        click.echo(f"{len(failures)} of {total} inputs failed", err=True)
        sys.exit(EXIT_SOME_FAILED)


# ----------------------------------------------------------------------------------------------- train

TRAIN_HELPS = {
    "out": "Where to write the model checkpoint (metrics JSON and PNG plots go next to it).",
    "val_dir": "A separate validation data set (same layout); otherwise a stratified split of DATA_DIR.",
    "val_fraction": "Share of each class held out for validation when there is no --val-dir.",
    "backbone": "Frame embedder: mobilenet_v2, mobilenet_v3_small, mobilenet_v3_large, resnet18, resnet50, "
                "efficientnet_b0, regnet_y_400mf or convnext_tiny.",
    "weights": "Backbone weights: a torchvision weights id, a .pth file, or 'none' for random.",
    "spatial_grid": "Pool the backbone's feature map to a g x g grid (keeps coarse layout; D grows by g*g).",
    "motion": "Also compute frame-pair motion descriptors from the backbone's feature maps (GRU input).",
    "appearance": "Feed appearance features to the GRU (turn off for content-agnostic tasks like camera motion).",
    "sample_fps": "Frames per second sampled from each clip.",
    "max_frames": "At most this many sampled frames per training clip.",
    "cache_dir": "Embedding cache folder. Default: $VIDGRU_CACHE or ~/.cache/vidgru/embeddings.",
    "window_s": "Seconds of video per training sample and per classification window.",
    "stride_s": "Seconds between classification windows (stored in the model).",
    "head": "gru (temporal model) or mean (order-less baseline: mean of frame embeddings -> linear).",
    "proj_dim": "Size of the projection before the GRU.",
    "hidden_size": "GRU hidden size.",
    "num_layers": "GRU layers.",
    "bidirectional": "Bidirectional GRU.",
    "pooling": "How GRU outputs become one vector: last, mean or attention.",
    "dropout": "Dropout probability.",
    "epochs": "Maximum epochs.",
    "batch_size": "Windows per optimisation step.",
    "lr": "AdamW learning rate.",
    "weight_decay": "AdamW weight decay.",
    "patience": "Stop after this many epochs without a better validation accuracy.",
    "seed": "Random seed (split, sampling, initialisation).",
    "speed_jitter": "Training windows are read at a random speed in [1-j, 1+j].",
    "device": "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.",
    "precision": "Backbone precision: auto, fp32, fp16 or bf16.",
    "runtime": "Backbone runtime: auto (ONNX Runtime on a CPU when installed, else PyTorch), torch or onnx.",
}


@cli.command()
@click.argument("data_dir", required=False)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@config_options(TrainConfig, TRAIN_HELPS, skip=("data",))
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def train(data_dir, config_file, quiet, **kwargs) -> None:
    """Train a clip classifier on DATA_DIR/<class_name>/<videos> (or a CSV/TXT list of path,label).

    Frame embeddings are computed once and cached, so later runs with other GRU settings take seconds.

    \b
    Examples:
      vidgru train clips/ --out my_model.pt
      vidgru train clips/ --head mean --out baseline.pt      # order-less baseline
      vidgru train --config configs/train.yaml --epochs 30
    """
    from vidgru.metrics import format_report
    from vidgru.train.loop import train_clip_model

    cfg = build_config(TrainConfig, config_file, data=data_dir, **_overrides(TrainConfig, kwargs))
    result = train_clip_model(cfg, progress=not quiet)
    click.echo(f"best epoch {result.best_epoch}, validation:")
    click.echo(format_report(result.val_report))
    click.echo(f"model:   {result.checkpoint}")
    click.echo(f"metrics: {result.metrics_path}")
    click.echo(f"plots:   {result.curves_png}, {result.confusion_png}")
    click.echo(f"took {result.seconds:.1f} s")


# ------------------------------------------------------------------------------------------------ eval


@cli.command("eval")
@click.argument("data_dir")
@click.option("--model", help="Trained clip model. Default: the shipped camera-motion model.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--runtime", default="auto", show_default=True, type=click.Choice(RUNTIMES),
              help="Backbone runtime (auto: ONNX Runtime on a CPU when installed).")
@click.option("--weights", help="Backbone weights file, if the model was trained on custom weights.")
@click.option("--cache-dir", help="Embedding cache folder.")
@click.option("--report", "report_path", metavar="PATH", help="Also write the report as JSON here.")
@click.option("--confusion-png", metavar="PATH", help="Write the confusion matrix as a PNG here.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def eval_(data_dir, model, device, runtime, weights, cache_dir, report_path, confusion_png, quiet) -> None:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix of a model on a labelled data set
    (same layout as for `vidgru train`)."""
    import numpy as np

    from vidgru.classify import ClipClassifier
    from vidgru.metrics import format_report, plot_confusion
    from vidgru.train.loop import evaluate_clip_model

    clf = ClipClassifier.from_path(model, device=device, runtime=runtime, weights=weights)
    result = evaluate_clip_model(clf, data_dir, cache_dir=cache_dir, progress=not quiet)
    click.echo(format_report(result.report))
    for _path, reason in result.failed:
        click.echo(f"error: {reason}", err=True)
    if report_path:
        Path(report_path).write_text(json.dumps({**result.report, "predictions": result.predictions,
                                                 "failed": result.failed}, indent=2))
    if confusion_png:
        plot_confusion(np.asarray(result.report["confusion"]), result.report["class_names"], confusion_png)
    if result.failed:
        sys.exit(EXIT_SOME_FAILED)


# ----------------------------------------------------------------------------------------------- synth


@cli.group()
def synth() -> None:
    """Generate labelled training data from real footage."""


@synth.command("camera-motion")
@click.argument("sources", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True, help="Data set folder to write (<class>/<clip>.mp4 + manifest).")
@click.option("--clips-per-class", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--classes", help="Comma-separated subset of: static, pan_left, pan_right, tilt_up, tilt_down, "
              "zoom_in, zoom_out, shake. Default: all eight.")
@click.option("--min-frames", default=16, show_default=True, type=click.IntRange(min=2))
@click.option("--max-frames", default=48, show_default=True, type=click.IntRange(min=2))
@click.option("--seed", default=0, show_default=True, help="Data set seed; the same seed rewrites identical clips.")
@click.option("--no-degrade", is_flag=True, help="No random noise/blur/JPEG/brightness degradations.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def synth_camera_motion(sources, out_dir, clips_per_class, classes, min_frames, max_frames, seed, no_degrade,
                        quiet) -> None:
    """Render camera-motion clips by moving a virtual camera over SOURCES (videos, image folders or photos).

    Each clip is a crop window moving with a random speed, easing, start and size over real footage (which
    keeps its own motion underneath); manifest.jsonl records how each clip was made.

    \b
    Example:
      vidgru synth camera-motion plaza.avi street/ photos/*.jpg --out data/motion --clips-per-class 80
    """
    from vidgru.train.synth import CAMERA_MOTION_CLASSES, generate_camera_motion_dataset

    chosen = [c.strip() for c in classes.split(",")] if classes else list(CAMERA_MOTION_CLASSES)
    if min_frames > max_frames:
        raise click.BadParameter(f"--min-frames {min_frames} is larger than --max-frames {max_frames}")
    out = generate_camera_motion_dataset(
        list(sources), out_dir, clips_per_class=clips_per_class, n_frames=(min_frames, max_frames), seed=seed,
        classes=chosen, degrade=not no_degrade, progress=not quiet,
    )
    click.echo(f"wrote {clips_per_class * len(chosen)} clips to {out}/ (manifest: {out}/manifest.jsonl)")
