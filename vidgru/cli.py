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
import types
import typing
from pathlib import Path

import click

from vidgru.choices import RUNTIMES
from vidgru.config import build_batch_settings, build_config
from vidgru.errors import VidgruError
from vidgru.settings import (
    BatchSettings,
    ClassifySettings,
    ShotsSettings,
    StateModelTrainSettings,
    TrackSettings,
    TrainSettings,
)

EXIT_SOME_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _with_notes(text: str, exc: BaseException) -> str:
    """``text`` and the exception's notes (e.g. which partial results were kept), on one line."""
    return "; ".join([text, *getattr(exc, "__notes__", ())])


class _Group(click.Group):
    """Turns vidgru errors into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VidgruError as exc:
            click.echo(_with_notes(f"error: {exc}", exc), err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt as exc:
            click.echo(_with_notes("interrupted", exc), err=True)
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


def config_options(cls: type, helps: dict[str, str] | None = None, *, skip: tuple[str, ...] = (),
                   only: tuple[str, ...] | None = None, prefix: str = ""):
    """Add one ``--flag`` per field of the settings record ``cls`` (default None, so an unset flag never
    overrides a value from ``--config``), with the field's help text (after ``prefix``) and default, and
    ``--old-name`` for the field's old aliases. ``only``/``skip`` choose the fields."""
    hints = typing.get_type_hints(cls)

    def decorate(f):
        for field in reversed(dataclasses.fields(cls)):
            if field.name in skip or (only is not None and field.name not in only):
                continue
            if dataclasses.is_dataclass(hints[field.name]):
                continue
            annotation = hints[field.name]
            union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
            args = [a for a in typing.get_args(annotation) if a is not type(None)] if union else [annotation]
            base = args[0]
            names = [field.name, *field.metadata.get("aliases", ())]
            flags = ["--" + n.replace("_", "-") for n in names]
            metavar = "PATH" if field.metadata.get("path") else None
            default = field.default
            text = prefix + ((helps or {}).get(field.name) or field.metadata.get("help", ""))
            text = f"{text} [default: {default}]" if default not in (None, ()) else text
            if base is bool:
                f = click.option(*(f"{flag}/--no-{flag[2:]}" for flag in flags), field.name, default=None,
                                 help=text)(f)
            elif typing.get_origin(base) is tuple:  # a repeatable flag (--line A --line B)
                f = click.option(*flags, field.name, type=str, multiple=True, default=None,
                                 help=f"{text} [repeatable]", metavar="TEXT")(f)
            else:
                f = click.option(*flags, field.name, type=base, default=None, help=text, metavar=metavar)(f)
        return f

    return decorate


def _overrides(cls: type, kwargs: dict) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    # A repeatable flag not given comes as (): not an override of the config file.
    return {k: (None if v == () else v) for k, v in kwargs.items() if k in names}


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
    from vidgru.backbone import find_model_weights
    from vidgru.detect import TORCHVISION_DETECTORS
    from vidgru.track.gru_motion import default_motion_model_path

    click.echo("detectors (--detector): onnx:PATH, bgsub (background subtraction), file[:PATH], and torchvision "
               "COCO models:")
    for name, spec in TORCHVISION_DETECTORS.items():
        found = find_model_weights(name, spec.default_weights)
        status = f"available ({found.path})" if found else "not on this machine (downloaded on first use when online)"
        click.echo(f"  torchvision:{name:<40}{status}")
    motion_model = default_motion_model_path()
    click.echo(f"default track-state model (--state-model gru): "
               f"{motion_model if motion_model.is_file() else 'not installed'}")


# -------------------------------------------------------------------------------------------- classify

def _tags_text(shot) -> str:
    return ", ".join(f"{t.label} {t.score:.2f}" for t in shot.tags) or "-"


def _print_result(result, top_k: int, out=None) -> None:
    """One line for the clip, then one row per shot: its times, how it begins, its camera motion (the segments
    inside it) and its content tags."""
    echo = (lambda s: click.echo(s, err=True)) if out == "stderr" else click.echo
    ranked = sorted(result.scores.items(), key=lambda kv: -kv[1])[:top_k]
    others = ", ".join(f"{k} {v:.2f}" for k, v in ranked[1:])
    echo(f"{result.video}: {result.label} ({result.score:.2f})" + (f"   [{others}]" if others else ""))
    shots = result.shots or []
    if not shots:
        echo(f"  {'start':>8}  {'end':>8}  {'label':<16} score")
        for seg in result.segments:
            echo(f"  {seg.start_s:7.2f}s  {seg.end_s:7.2f}s  {seg.label:<16} {seg.score:.2f}")
        return
    echo(f"  {'shot':>4}  {'start':>8}  {'end':>8}  {'begins':<8}  {'label (segments in the shot)':<32} tags")
    for k, shot in enumerate(shots, 1):
        motion = ", ".join(f"{s.label} {s.score:.2f}" for s in result.segments
                           if shot.start_s - 1e-6 <= s.start_s and s.end_s <= shot.end_s + 1e-6) or "-"
        echo(f"  {k:4d}  {shot.start_s:7.2f}s  {shot.end_s:7.2f}s  {shot.kind:<8}  {motion:<32} {_tags_text(shot)}")


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@config_options(ClassifySettings)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def classify(inputs, config_file, quiet, **kwargs) -> None:
    """Classify whole videos (a label, per-window scores and a timeline of segments), or still images with an
    image model.

    INPUTS are video files, folders (every video under them; a folder of images is one sequence), image
    globs in quotes ('frames/*.jpg'), camera indices or stream URLs (live: prints a line per window until
    stopped). A bad input is reported and skipped; the exit code is then 1.

    With an image model (--model from `vidgru train IMAGE_DIR`), every image is classified on its own: a
    folder means every image under it, recursively, and --json writes one object per image (image, label,
    score, scores). Unreadable, corrupt, too small or too large images: one error line each, the rest go on.

    Outputs are checked before any work (an output may not be an input) and written whole. A truncated or
    corrupt video: the results of the frames that decoded are kept, with a warning, exit code 1.

    \b
    Examples:
      vidgru classify clip.mp4
      vidgru classify a.mp4 b.avi frames_dir/ --model my_model.pt --json -
      vidgru classify videos/ --csv results.csv --out-video annotated/
      vidgru classify photo.jpg more/*.png --model photos.pt --json -
    """
    from tqdm import tqdm

    from vidgru.classify import classifier_for, classify_live, classify_outputs, classify_sources
    from vidgru.image_classify import is_image_model
    from vidgru.video import expand_inputs, is_live_source

    cfg = build_config(ClassifySettings, config_file, **_overrides(ClassifySettings, kwargs))
    if is_image_model(cfg.model):
        _classify_images(inputs, cfg, quiet)
        return
    sources, failures = [], []
    for item in inputs:
        try:
            sources.extend(expand_inputs([item]))
        except VidgruError as exc:
            failures.append(item)
            click.echo(f"error: {exc}", err=True)
    if not sources:
        sys.exit(EXIT_SOME_FAILED if failures else EXIT_ERROR)
    total = len(sources) + len(failures)
    classify_outputs(sources, cfg)  # ConfigError before any work
    if cfg.model is None:
        click.echo("using the default camera-motion model (pass --model for your own)", err=True)
    clf = classifier_for(cfg)
    live = [s for s in sources if is_live_source(s)]
    if live and len(sources) > 1:
        raise VidgruError("a live source (camera or stream) must be the only input")
    if live:
        click.echo(f"classifying {live[0]} live: one line every {clf.stride_s:g} s, Ctrl-C to stop", err=True)
        table = cfg.json != "-"
        if classify_live(live[0], clf, cfg, on_window=lambda w: table and click.echo(
                f"{w.start_s:8.2f}s  {w.label:<16} {w.score:.2f}")):
            click.echo("stopped", err=True)
        return
    incomplete: list[str] = []

    def warn(source: str, exc: VidgruError) -> None:
        incomplete.append(source)
        click.echo(f"warning: {exc}", err=True)

    failures += classify_sources(
        sources, clf, cfg, progress=lambda name: tqdm(desc=name, unit="frame", disable=quiet, leave=False),
        on_result=lambda r: _print_result(r, cfg.top_k, out="stderr" if cfg.json == "-" else None),
        on_error=lambda source, exc: click.echo(_with_notes(f"error: {exc}", exc), err=True),
        on_incomplete=warn)
    if failures:
        click.echo(f"{len(failures)} of {total} inputs failed"
                   + (f", {len(incomplete)} incomplete" if incomplete else ""), err=True)
    elif incomplete and total > 1:
        click.echo(f"{len(incomplete)} of {total} inputs incomplete", err=True)
    if failures or incomplete:
        sys.exit(EXIT_SOME_FAILED)


# ------------------------------------------------------------------------------------------------ shots


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@config_options(ShotsSettings)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def shots(inputs, config_file, quiet, **kwargs) -> None:
    """Shot boundaries (cut, fade, dissolve) of recorded videos, without the camera-motion model: one row per shot.

    INPUTS are video files, folders (every video under them) or image globs in quotes. A bad input is
    reported and skipped; the exit code is then 1. Outputs are checked before any work and written whole.

    \b
    Examples:
      vidgru shots film.mp4
      vidgru shots videos/ --csv shots.csv
      vidgru shots film.mp4 --tags --json -
    """
    from tqdm import tqdm

    from vidgru.classify import shot_sources, shots_finder_for
    from vidgru.video import expand_inputs, is_live_source

    cfg = build_config(ShotsSettings, config_file, **_overrides(ShotsSettings, kwargs))
    sources, failures = [], []
    for item in inputs:
        try:
            found = expand_inputs([item])
        except VidgruError as exc:
            failures.append(item)
            click.echo(f"error: {exc}", err=True)
            continue
        live = [s for s in found if is_live_source(s)]
        if live:
            raise VidgruError(f"{live[0]}: vidgru shots reads recorded videos, not cameras or streams")
        sources.extend(found)
    if not sources:
        sys.exit(EXIT_SOME_FAILED if failures else EXIT_ERROR)
    total = len(sources) + len(failures)
    finder, sample_fps = shots_finder_for(cfg)
    out = "stderr" if cfg.json == "-" else None
    echo = (lambda s: click.echo(s, err=True)) if out else click.echo

    def show(result) -> None:
        echo(f"{result.video}: {len(result.shots)} shots ({result.duration_s:.2f} s)")
        echo(f"  {'shot':>4}  {'start':>8}  {'end':>8}  {'begins':<8}  {'score':>5}" + ("  tags" if cfg.tags else ""))
        for k, shot in enumerate(result.shots, 1):
            echo(f"  {k:4d}  {shot.start_s:7.2f}s  {shot.end_s:7.2f}s  {shot.kind:<8}  {shot.score:5.2f}"
                 + (f"  {_tags_text(shot)}" if cfg.tags else ""))

    failures += shot_sources(
        sources, finder, cfg, sample_fps=sample_fps,
        progress=lambda name: tqdm(desc=name, unit="frame", disable=quiet, leave=False), on_result=show,
        on_error=lambda source, exc: click.echo(_with_notes(f"error: {exc}", exc), err=True))
    if failures:
        click.echo(f"{len(failures)} of {total} inputs failed", err=True)
        sys.exit(EXIT_SOME_FAILED)


# ---------------------------------------------------------------------------------------------- export


@cli.command("export")
@click.argument("model")
@click.option("--format", "fmt", default="onnx", show_default=True, type=click.Choice(["onnx"]),
              help="Export format.")
@click.option("--out", "out_dir", required=True, metavar="DIR",
              help="Folder to write (ONNX files + model.json); an earlier export there is replaced.")
def export(model, fmt, out_dir) -> None:
    """Export a clip classifier or a tracking state model to ONNX.

    MODEL is a .pt from `vidgru train` or `vidgru train-motion` (or `default` / `default-state-model` for the
    shipped ones). A clip classifier becomes trunk.onnx (the backbone) and head.onnx (the GRU, hidden state in
    and out), a state model state_step.onnx; model.json says how to preprocess and sample. Both run in ONNX
    Runtime and OpenCV's DNN module; `vidgru classify --model DIR` runs an exported classifier without PyTorch.
    The files are checked against PyTorch before the folder is written.

    \b
    Examples:
      vidgru export my_model.pt --out my_model_onnx/
      vidgru classify clip.mp4 --model my_model_onnx/
    """
    from vidgru.export import export_model
    from vidgru.paths import CLIP_MODEL, STATE_MODEL, shipped_model

    source = {"default": shipped_model(CLIP_MODEL), "default-state-model": shipped_model(STATE_MODEL)}.get(model, model)
    manifest = export_model(source, out_dir, fmt=fmt)
    click.echo(f"wrote {out_dir}: {', '.join(manifest['files'].values())} and model.json ({manifest['kind']})")


def _classify_images(inputs, cfg: ClassifySettings, quiet: bool) -> None:
    from tqdm import tqdm

    from vidgru.image_classify import check_image_outputs, classify_image_files, image_classifier_for
    from vidgru.stills import expand_image_inputs

    paths, bad = expand_image_inputs(inputs)
    for _item, reason in bad:
        click.echo(f"error: {reason}", err=True)
    if not paths:
        sys.exit(EXIT_SOME_FAILED if bad else EXIT_ERROR)
    check_image_outputs(paths, cfg)  # before the backbone loads
    clf = image_classifier_for(cfg)
    echo = (lambda s: click.echo(s, err=True)) if cfg.json == "-" else click.echo

    def show(result) -> None:
        ranked = sorted(result.scores.items(), key=lambda kv: -kv[1])[1:cfg.top_k]
        others = ", ".join(f"{k} {v:.2f}" for k, v in ranked)
        echo(f"{result.image}: {result.label} ({result.score:.2f})" + (f"   [{others}]" if others else ""))

    with tqdm(total=len(paths), desc="classifying", unit="image", disable=quiet, leave=False) as bar:
        failures = classify_image_files(paths, clf, cfg, on_result=show, progress=bar,
                                        on_error=lambda path, exc: click.echo(f"error: {exc}", err=True))
    total = len(paths) + len(bad)
    if failures or bad:
        click.echo(f"{len(failures) + len(bad)} of {total} inputs failed", err=True)
        sys.exit(EXIT_SOME_FAILED)


# ----------------------------------------------------------------------------------------------- train

@cli.command()
@click.argument("data_dir", required=False)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@config_options(TrainSettings, skip=("data",))
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def train(data_dir, config_file, quiet, **kwargs) -> None:
    """Train a clip classifier on DATA_DIR/<class_name>/<videos> (or a CSV/TXT list of path,label), or an
    image classifier when the class folders (or the list) hold image files: each image is then one sample.

    Frame embeddings (for images: 7 x 7 maps of backbone cells) are computed once and cached, so later runs
    with other model settings take seconds. An image model is a region GRU (--head gru), a linear probe
    (--head linear) or an MLP on pooled features (--head mlp). Images that cannot be read: one error line
    each, training goes on without them, exit code 1.

    \b
    Examples:
      vidgru train clips/ --out my_model.pt
      vidgru train clips/ --head mean --out baseline.pt      # order-less baseline
      vidgru train photos/ --out photos.pt                   # photos/<class>/*.jpg: region GRU
      vidgru train photos/ --head linear --out probe.pt      # linear-probe baseline
      vidgru train --config configs/train.yaml --epochs 30
    """
    from vidgru.metrics import format_report
    from vidgru.train.images import train_model

    cfg = build_config(TrainSettings, config_file, data=data_dir, **_overrides(TrainSettings, kwargs))
    kind, result = train_model(cfg, progress=not quiet)
    click.echo(f"best epoch {result.best_epoch}, validation:")
    click.echo(format_report(result.val_report, unit=kind))
    click.echo(f"model:   {result.checkpoint}")
    click.echo(f"metrics: {result.metrics_path}")
    click.echo(f"plots:   {result.curves_png}, {result.confusion_png}")
    click.echo(f"took {result.seconds:.1f} s")
    if kind == "images" and result.skipped:
        for _path, reason in result.skipped:
            click.echo(f"error: {reason}", err=True)
        click.echo(f"{len(result.skipped)} images could not be read and were left out", err=True)
        sys.exit(EXIT_SOME_FAILED)


# ------------------------------------------------------------------------------------------------ eval


@cli.command("eval")
@click.argument("data_dir")
@click.option("--model", help="Trained clip or image model. Default: the shipped camera-motion model.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--runtime", default="auto", show_default=True, type=click.Choice(RUNTIMES),
              help="Backbone runtime (auto: ONNX Runtime on a CPU when installed).")
@click.option("--weights", help="Backbone weights file, if the model was trained on custom weights.")
@click.option("--cache-dir", help="Embedding cache folder.")
@click.option("--report", "report_path", metavar="PATH", help="Also write the report as JSON here.")
@click.option("--confusion-png", metavar="PATH", help="Write the confusion matrix as a PNG here.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def eval_(data_dir, model, device, runtime, weights, cache_dir, report_path, confusion_png, quiet) -> None:
    """Accuracy (top-1, and top-5 with more than 5 classes), per-class precision/recall/F1 and the confusion
    matrix of a model on a labelled data set (same layout as for `vidgru train`: clips for a clip model,
    images for an image model). Inputs that cannot be read: one error line each, exit code 1."""
    from vidgru.fileio import check_outputs, write_text_atomic
    from vidgru.metrics import format_report, plot_confusion
    from vidgru.train.images import evaluate_model

    check_outputs([("--report", report_path, "file"), ("--confusion-png", confusion_png, "file")],
                  inputs=[data_dir, model, weights])
    result = evaluate_model(model, data_dir, device=device, runtime=runtime, weights=weights, cache_dir=cache_dir,
                            progress=not quiet)
    click.echo(format_report(result.report, unit=result.unit))
    for _path, reason in result.failed:
        click.echo(f"error: {reason}", err=True)
    if report_path:
        write_text_atomic(report_path, json.dumps({**result.report.to_dict(), "predictions": result.predictions,
                                                   "failed": result.failed}, indent=2))
    if confusion_png:
        plot_confusion(result.report.confusion, result.report.class_names, confusion_png)
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


# ----------------------------------------------------------------------------------------------- track

@cli.command()
@click.argument("source", required=False)
@click.option("--webcam", type=int, is_flag=False, flag_value=0, default=None, metavar="[INDEX]",
              help="Track from a camera (index 0 unless given).")
@click.option("--show/--no-show", default=None, help="Live window with boxes, IDs, trails and FPS (q or Esc "
              "quits). Default: on for --webcam, off otherwise.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@config_options(TrackSettings)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def track(source, webcam, show, config_file, quiet, **kwargs) -> None:
    """Track objects in a video, camera, stream or MOTChallenge sequence.

    SOURCE is a video file, an image folder, an rtsp/http URL, a MOTChallenge sequence folder (seqinfo.ini,
    det/det.txt, optional images) or a folder of such sequences. Tracking by detection: a detector finds
    objects in each frame, a GRU (or Kalman) state model predicts where each track will be, and a two-stage
    assignment links them; IDs survive short occlusions and misses.

    Outputs are checked before any work (an output may not be an input) and written whole. A truncated or
    corrupt video: the results of the frames that decoded are kept, with a warning, exit code 1. Ctrl-C keeps
    the results so far (exit 130). Without --mot, --json, --out-video or --show nothing is saved.

    \b
    Examples:
      vidgru track street.mp4 --detector onnx:nanodet.onnx --out-video tracked.mp4 --mot tracks.txt
      vidgru track --webcam                       # live window; q or Esc quits
      vidgru track --webcam 1 --no-show --json -  # headless: JSON Lines per frame on stdout
      vidgru track rtsp://camera/stream --mot cam.txt
      vidgru track MOT15/train/TUD-Campus --detector file --mot TUD-Campus.txt
      vidgru track MOT15/train --mot runs/        # every sequence; then: vidgru eval-track
      vidgru track street.mp4 --line "door:100,400,700,400" --zone "crossing:120,300,500,300,520,560,90,560"
      vidgru track street.mp4 --line "mid:0,0.5,1,0.5" --events events.jsonl --summary counts.json --heatmap h.png
      vidgru track rtsp://camera/stream --analytics configs/analytics.yaml --events -   # events as they happen
    """
    from tqdm import tqdm

    from vidgru.track.pipeline import (
        TrackOutputs,
        analytics_spec_for,
        appearance_embedder,
        input_name,
        track_inputs,
        track_source,
    )
    from vidgru.video import is_live_source

    cfg = build_config(TrackSettings, config_file, **_overrides(TrackSettings, kwargs))
    if source is not None and webcam is not None:
        raise click.UsageError("give either SOURCE or --webcam, not both")
    if source is None and webcam is None:
        raise click.UsageError("nothing to track: give a SOURCE or --webcam [INDEX]")
    items = track_inputs(webcam if webcam is not None else source)
    if show is None:
        show = webcam is not None
    many = len(items) > 1
    if many and show:
        raise click.UsageError("--show works with one source at a time")
    outputs = TrackOutputs.for_inputs(cfg, items)  # ConfigError before any work
    analytics_spec_for(cfg)  # bad lines, zones or analytics file: ConfigError before any work
    if not (cfg.mot or cfg.json or cfg.out_video or show or cfg.events or cfg.summary or cfg.heatmap):
        click.echo("note: no --mot, --json, --out-video, --events, --summary, --heatmap or --show given: nothing "
                   "will be saved (tracking anyway)", err=True)
    detectors: dict = {}
    embedders: list = []

    def embedder():
        if not embedders:  # built on first use: sequences without images never need it
            embedders.append(appearance_embedder(device=cfg.device, runtime=cfg.runtime))
        return embedders[0]

    failures = incomplete = 0
    for item, item_outputs in zip(items, outputs, strict=True):
        name = input_name(item)
        live = isinstance(item, int) or (isinstance(item, str) and is_live_source(item))
        bar = tqdm(desc=name, unit="frame", disable=quiet or live, leave=False)
        try:
            summary = track_source(item, cfg, item_outputs, detectors=detectors, embedder=embedder, show=show,
                                   progress=bar, keep_partial=True)
        except VidgruError as exc:
            if not many:
                raise
            failures += 1
            click.echo(_with_notes(f"error: {exc}", exc), err=True)
            continue
        finally:
            bar.close()
        if summary.stopped:
            click.echo("stopped", err=True)
        if summary.incomplete:
            incomplete += 1
            click.echo(f"warning: {summary.incomplete}", err=True)
        if not quiet:
            wrote = f"; wrote {', '.join(summary.written)}" if summary.written else ""
            click.echo(f"{summary.name}: {summary.frames} frames, {summary.tracks} tracks, "
                       f"{summary.frames_per_s:.1f} frames/s{wrote}", err=True)
            if summary.analytics is not None:
                for line in summary.analytics.lines:
                    click.echo(f"  line {line.name}: in {line.total('in')}, out {line.total('out')}", err=True)
                for zone in summary.analytics.zones:
                    click.echo(f"  zone {zone.name}: {zone.entries} entries, {zone.exits} exits, max "
                               f"{zone.max_occupancy} inside", err=True)
    if failures:
        click.echo(f"{failures} of {len(items)} inputs failed" + (f", {incomplete} incomplete" if incomplete else ""),
                   err=True)
    elif incomplete and many:
        click.echo(f"{incomplete} of {len(items)} inputs incomplete", err=True)
    if failures or incomplete:
        sys.exit(EXIT_SOME_FAILED)


# ------------------------------------------------------------------------------------ train-motion / eval

@cli.command("train-motion")
@click.argument("data", nargs=-1, required=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@config_options(StateModelTrainSettings)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train_motion(data, config_file, quiet, **kwargs) -> None:
    """Train the GRU track-state model on MOTChallenge-format ground truth.

    DATA are split folders (e.g. DanceTrack/train, MOT17/train) or sequence folders with gt/gt.txt and
    seqinfo.ini; each DATA folder is one data set. Where a sequence has det/det.txt, its ground-truth
    trajectories are paired with those real detections; where it has none, detections are simulated from the
    truth (box-size-relative noise with a heavy tail, missed detections, occlusion runs). Windows are also
    drawn at lower frame rates, and where two people overlap some windows feed the track the other one's box
    for a moment (a wrong association it must learn not to follow). The model is a Kalman filter whose
    corrections a GRU learns; it learns to predict the next box, to smooth the current one and how far off
    its prediction is likely to be (which the association uses).

    \b
    Examples:
      vidgru train-motion DanceTrack/train MOT17/train MOT15/train --first-half 'MOT17-*' --out motion.pt
      vidgru train-motion MOT15/train --val TUD-Campus --out motion.pt
      vidgru track video.mp4 --state-model-file motion.pt
    """
    from collections import Counter

    from tqdm import tqdm

    from vidgru.train.motion import train_state_model

    cfg = build_config(StateModelTrainSettings, config_file, **_overrides(StateModelTrainSettings, kwargs))
    weights = cfg.weights_by_dataset()

    def loaded(train_sets, val_sets) -> None:
        counts = Counter(s.dataset for s in train_sets)
        for name, n in sorted(counts.items()):
            sims = sum(not s.has_detections for s in train_sets if s.dataset == name)
            kind = "simulated" if sims == n else "real"
            click.echo(f"data set {name}: {n} training sequences ({kind} detections"
                       f"{f', {sims} simulated' if 0 < sims < n else ''}), weight {weights.get(name, 1.0):g}",
                       err=True)
        if val_sets:
            click.echo(f"validating on {', '.join(s.name for s in val_sets)}", err=True)

    bar = tqdm(total=cfg.steps, desc="train-motion", unit="step", disable=quiet)

    def progress(step: int, loss: float) -> None:
        bar.update()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss:.4f}")

    result = train_state_model(data, cfg, on_loaded=loaded, progress=progress)
    bar.close()
    metrics = result.metrics
    click.echo(f"wrote {result.checkpoint} and {result.metrics_path}", err=True)
    if "gru_predicted_iou" in metrics:  # there were validation sequences
        groups = [("all", metrics)] + list(metrics.get("datasets", {}).items())
        for name, m in groups:
            click.echo(f"validation ({name}), mean IoU with the true box, GRU vs Kalman: next-frame prediction "
                       f"{m['gru_predicted_iou']:.3f} vs {m['kalman_predicted_iou']:.3f}, after a miss "
                       f"{m['gru_predicted_iou_missed']:.3f} vs {m['kalman_predicted_iou_missed']:.3f}, "
                       f"smoothed {m['gru_smoothed_iou']:.3f} vs {m['kalman_smoothed_iou']:.3f}; own detection "
                       f"ranked above the nearest neighbour's {m['gru_own_first']:.3f} vs {m['kalman_own_first']:.3f}")


@cli.command("eval-track")
@click.option("--gt", "gt", required=True, type=click.Path(exists=True, file_okay=False),
              help="MOTChallenge split folder (e.g. MOT15/train) or one sequence folder.")
@click.option("--results", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder with <sequence>.txt tracker outputs.")
@click.option("--benchmark", type=click.Choice(["auto", "MOT15", "MOT17"]), default="auto", show_default=True,
              help="How to read gt.txt: MOT15 (no classes; columns 8-10 are world coordinates) or MOT17 "
                   "(pedestrians only, distractors removed). auto decides per sequence.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the report as JSON.")
def eval_track(gt, results, benchmark, json_path) -> None:
    """HOTA, MOTA, IDF1, IDSW per sequence and combined (TrackEval's definitions, via the trackers package).

    \b
    Example:
      vidgru track MOT15/train --mot runs/ && vidgru eval-track --gt MOT15/train --results runs/
    """
    from vidgru.fileio import write_text_atomic
    from vidgru.metrics import evaluate_tracking, format_tracking_report

    report = evaluate_tracking(gt, results, benchmark=benchmark)
    if report.sequences:  # the table; each sequence that could not be evaluated is one error line below
        click.echo(format_tracking_report(report, include_errors=False))
    if json_path:
        write_text_atomic(json_path, json.dumps(report.to_dict(), indent=1))
    if report.errors:
        for name, why in report.errors.items():
            click.echo(f"error: {name}: {why}", err=True)
        sys.exit(EXIT_SOME_FAILED)


# ----------------------------------------------------------------------------------------------- batch

BATCH_SHARED_HELPS = {
    "fps": "Frame rate to assume when a file's own is wrong or missing.",
    "weights": "Backbone (classify) or detector (track) weights file.",
    "device": "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.",
    "runtime": "Backbone runtime: auto (ONNX Runtime on a CPU when installed, else PyTorch), torch or onnx.",
}


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@config_options(BatchSettings)
@config_options(ClassifySettings, only=("model", "window_s", "stride_s", "sample_fps", "precision", "batch_size",
                                        "shot_detector", "shot_model", "tags", "tag_threshold"),
                prefix="classify: ")
@config_options(TrackSettings, only=("detector", "classes", "score_threshold", "detect_every", "state_model",
                                     "appearance", "max_frames", "line", "zone", "analytics"), prefix="track: ")
@click.option("--track-config", type=click.Path(dir_okay=False), metavar="PATH",
              help="track: a YAML of `vidgru track` settings (e.g. configs/track.yaml); flags override it.")
@config_options(ClassifySettings, BATCH_SHARED_HELPS, only=tuple(BATCH_SHARED_HELPS))
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def batch(inputs, config_file, track_config, quiet, **kwargs) -> None:
    """Run classify or track on every video under INPUTS (folders and/or files): per-video results,
    a manifest, resume and fault isolation.

    Each input gets one record in OUT/manifest.jsonl (ok, failed with the reason, or skipped). Running
    again skips inputs whose content and settings are unchanged and whose outputs are as written (size and
    sha256); failed ones and damaged outputs are redone. A file that cannot be decoded, crashes its decoder
    or runs past --file-timeout-s fails alone.

    \b
    Exit codes: 0 every input ok or skipped; 1 some inputs failed (the rest were processed);
    2 bad usage or configuration (nothing processed); 130 interrupted (finished files are kept).
    \b
    Examples:
      vidgru batch videos/ --task classify --out results/
      vidgru batch videos/ --task track --detector torchvision:fasterrcnn_mobilenet_v3_large_320_fpn --out runs/
      vidgru batch videos/ --out results/ --executor ray --ray-address auto
      vidgru batch videos/ --task track --analytics configs/analytics.yaml --out runs/   # + events, summaries
    """
    from vidgru.batch import run_batch

    cfg = build_batch_settings(config_file, track_config=track_config, **kwargs)

    def report(record) -> None:  # failures as they happen, above the progress bars (listed again at the end)
        if record.status == "failed":
            from tqdm import tqdm

            tqdm.write(f"failed: {record.path}: {record.error}", file=sys.stderr)

    summary = run_batch(list(inputs), cfg, progress=not quiet, on_record=None if quiet else report)
    rate = summary.frames / max(summary.seconds, 1e-9)
    click.echo(f"{len(summary.records)} inputs: {summary.count('ok')} ok, {summary.count('failed')} failed, "
               f"{summary.count('skipped')} skipped; {summary.frames} frames in {summary.seconds:.1f} s "
               f"({rate:.1f} frames/s); manifest: {Path(cfg.out) / 'manifest.jsonl'}", err=True)
    for record in summary.failures:
        click.echo(f"  failed: {record.relpath}: {record.error}", err=True)
    sys.exit(summary.exit_code)
