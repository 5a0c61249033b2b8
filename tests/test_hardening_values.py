"""Bad values, config files, checkpoints, weights files, data lists, camera indices and MOT text files: each ends
in one ``error:`` line naming the input, a documented exit code, no traceback and nothing written."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from vidgru.cli import cli
from vidgru.config import build_config
from vidgru.errors import CheckpointError, ConfigError, DatasetError, VideoOpenError
from vidgru.settings import (
    BatchSettings,
    ClassifySettings,
    StateModelTrainSettings,
    TrackSettings,
    TrainSettings,
)

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "vidgru" / "models"
SAMPLES = REPO / "sample_videos"
VIDEO = SAMPLES / "zoom_in.mp4"
RECORDS = (ClassifySettings, TrainSettings, TrackSettings, StateModelTrainSettings, BatchSettings)


def run_cli(args: list[str]):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_error(result, *, names: str, code: int = 2, contains: str = "") -> str:
    """Exit ``code``, exactly one ``error:`` line on stderr naming ``names``, no traceback."""
    stderr = result.stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == code, (result.exit_code, result.output, repr(result.exception))
    assert len(errors) == 1, stderr
    assert names in errors[0], errors[0]
    assert contains in errors[0], errors[0]
    assert "Traceback" not in result.output and "Traceback" not in stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return errors[0]


# ------------------------------------------------------------------------------------ 1. numbers in settings


def _float_fields():
    for cls in RECORDS:
        for f in dataclasses.fields(cls):
            if f.type in ("float", "float | None"):
                yield pytest.param(cls, f, id=f"{cls.__name__}.{f.name}")


@pytest.mark.parametrize(("cls", "field"), list(_float_fields()))
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_every_float_setting_refuses_non_finite_values(cls, field, value):
    if value == math.inf and field.metadata.get("allow_inf"):  # the help says what inf means
        assert getattr(cls(**{field.name: value}), field.name) == math.inf
        return
    with pytest.raises(ConfigError, match=rf"^{field.name}: must be a finite number, got {value}"):
        cls(**{field.name: value})


def test_the_walk_sees_the_float_fields():
    names = {p.id for p in _float_fields()}
    assert {"TrainSettings.lr", "TrackSettings.motion_weight", "BatchSettings.file_timeout_s",
            "ClassifySettings.fps"} <= names


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: c.__name__)
def test_every_int_setting_refuses_values_beyond_a_c_int(cls):
    for f in dataclasses.fields(cls):
        if f.type in ("int", "int | None"):
            with pytest.raises(ConfigError, match=rf"^{f.name}: must be between"):
                cls(**{f.name: 99999999999999999999})


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["classify", VIDEO, "--fps", "nan"], "fps"),
        (["classify", VIDEO, "--window-s", "nan"], "window_s"),
        (["classify", VIDEO, "--stride-s", "nan"], "stride_s"),
        (["classify", VIDEO, "--window-s", "inf"], "window_s"),
        (["classify", VIDEO, "--sample-fps", "inf"], "sample_fps"),
        (["train", SAMPLES, "--lr", "nan"], "lr"),
        (["train", SAMPLES, "--val-fraction", "nan"], "val_fraction"),
        (["train", SAMPLES, "--dropout", "nan"], "dropout"),
        (["train", SAMPLES, "--weight-decay", "inf"], "weight_decay"),
        (["train", SAMPLES, "--seed", "-1"], "seed"),
        (["track", VIDEO, "--fps", "nan"], "fps"),
        (["track", VIDEO, "--max-lost-s", "nan"], "max_lost_s"),
        (["track", VIDEO, "--motion-weight", "nan"], "motion_weight"),
        (["track", VIDEO, "--high-threshold", "nan"], "high_threshold"),
        (["track", VIDEO, "--low-threshold", "nan"], "low_threshold"),
        (["track", VIDEO, "--score-threshold", "inf"], "score_threshold"),
        (["batch", SAMPLES, "--file-timeout-s", "nan"], "file_timeout_s"),
        (["train-motion", SAMPLES, "--lr", "nan"], "lr"),
        (["train-motion", SAMPLES, "--dataset-weights", "a=nan"], "dataset_weights"),
        (["classify", VIDEO, "--batch-size", "99999999999999999999"], "batch_size"),
    ],
    ids=["fps", "window-nan", "stride-nan", "window-inf", "sample-fps-inf", "train-lr", "val-fraction", "dropout",
         "weight-decay-inf", "seed-negative", "track-fps", "max-lost-s", "motion-weight", "high-threshold",
         "low-threshold", "score-threshold-inf", "file-timeout-s", "train-motion-lr", "dataset-weights",
         "huge-batch-size"],
)
def test_non_finite_flags_are_one_error_line(tmp_path, args, field):
    result = run_cli(args)
    assert_one_error(result, names=f"error: {field}:")


# ------------------------------------------------------------------------------------------ 2. config files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfewindow_s: 2\n", "not UTF-8 text"),
        (b"\x00\x01\x02\x03binary", "not valid YAML"),
        (b"", "file is empty"),
        (b"  \n\n", "file is empty"),
        (b"stride_s: .inf\n", "stride_s: must be a finite number"),
        (b"window_s: .nan\n", "window_s: must be a finite number"),
        (b"batch_size: 1e400\n", "batch_size: expected an integer"),
        (b"batch_size: 99999999999999999999\n", "batch_size: must be between"),
        (b"fps: 1e400\n", "fps: must be a finite number"),
        (b"a: [\n", "not valid YAML at line"),
    ],
    ids=["not-utf8", "binary", "empty", "blank", "yaml-inf", "yaml-nan", "int-1e400", "int-huge", "float-1e400",
         "syntax"],
)
def test_bad_config_files_are_one_config_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        build_config(ClassifySettings, path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    result = run_cli(["classify", VIDEO, "--config", path])
    assert_one_error(result, names=str(path), contains=message.split(":")[-1].strip())


def test_a_config_that_is_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        build_config(TrackSettings, tmp_path)


def test_comments_only_config_is_the_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("# everything commented out\n# window_s: 3\n")
    assert build_config(ClassifySettings, path) == ClassifySettings()


def test_yaml_python_tags_never_run(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.yaml"
    path.write_text(f'!!python/object/apply:os.system ["touch {marker}"]\n')
    for args in (["classify", VIDEO], ["track", VIDEO], ["train", SAMPLES]):
        result = run_cli([*args, "--config", path])
        line = assert_one_error(result, names=str(path), contains="could not determine a constructor")
        assert "python/object/apply" in line
    assert not marker.exists()


def test_yaml_numbers_without_a_dot_are_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr: 1e-3\n")
    assert build_config(TrainSettings, path).lr == 1e-3


# ----------------------------------------------------------------------------------------- 3. checkpoints


def _edited(tmp_path: Path, source: str, edit) -> Path:
    payload = torch.load(MODELS / source, weights_only=True)
    edit(payload)
    path = tmp_path / f"bad-{source}"
    torch.save(payload, path)
    return path


def _set(key, value):
    return lambda p: p.__setitem__(key, value)


def _sd(edit):
    return lambda p: edit(p["state_dict"])


CLIP_CASES = [
    (_sd(lambda sd: sd.__setitem__("proj.0.weight", torch.zeros(256, 7))), "tensor 'proj.0.weight' has shape"),
    (_sd(lambda sd: sd.pop("gru.bias_hh_l0")), "needs tensor 'gru.bias_hh_l0'"),
    (_sd(lambda sd: sd.__setitem__("extra.weight", torch.zeros(2))), "unexpected tensor 'extra.weight'"),
    (_set("class_names", []), "class_names must be distinct non-empty names"),
    (lambda p: p["class_names"].pop(), "7 class names but the model has 8 outputs"),
    (_sd(lambda sd: sd.__setitem__("norm.bias", [0.0] * 256)), "state_dict['norm.bias'] is a list"),
    (_set("state_dict", [1, 2, 3]), "'state_dict' is a list"),
    (_set("model", "gru"), "'model' is a str"),
    (lambda p: p["model"].__setitem__("num_classes", 3), "8 class names but the model has 3 outputs"),
    (lambda p: p["sampling"].__setitem__("window_s", float("nan")), "sampling window_s must be a finite number"),
    (lambda p: p.pop("backbone"), "no 'backbone'"),
]
CLIP_IDS = ["wrong-shape", "missing-tensor", "extra-tensor", "no-classes", "class-count", "non-tensor",
            "state-dict-list", "model-not-dict", "head-size", "nan-sampling", "no-backbone"]


@pytest.mark.parametrize(("edit", "message"), CLIP_CASES, ids=CLIP_IDS)
def test_bad_clip_checkpoints_are_one_checkpoint_error(tmp_path, edit, message):
    from vidgru.temporal import load_checkpoint

    path = _edited(tmp_path, "camera_motion.pt", edit)
    with pytest.raises(CheckpointError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("edit", "message"), CLIP_CASES[:3], ids=CLIP_IDS[:3])
def test_bad_clip_checkpoints_through_classify(tmp_path, edit, message):
    path = _edited(tmp_path, "camera_motion.pt", edit)
    out = tmp_path / "out.jsonl"
    result = run_cli(["classify", VIDEO, "--model", path, "--json", out])
    assert_one_error(result, names=str(path), contains=message)
    assert not out.exists()


def test_clip_build_names_the_first_mismatching_tensor(tmp_path):
    from vidgru.temporal import load_checkpoint

    ckpt = load_checkpoint(MODELS / "camera_motion.pt")
    bad = dataclasses.replace(ckpt, state_dict={**ckpt.state_dict, "attn.bias": torch.zeros(3)})
    with pytest.raises(CheckpointError, match=r"camera_motion.pt: tensor 'attn.bias' has shape \(3,\)"):
        bad.build()


STATE_CASES = [
    (_sd(lambda sd: sd.__setitem__("cell.weight_hh", torch.zeros(192, 3))), "tensor 'cell.weight_hh' has shape"),
    (_sd(lambda sd: sd.pop("head.2.bias")), "needs tensor 'head.2.bias'"),
    (_sd(lambda sd: sd.__setitem__("head.9.weight", torch.zeros(1))), "unexpected tensor 'head.9.weight'"),
    (_sd(lambda sd: sd.__setitem__("cell.bias_ih", "x")), "state_dict['cell.bias_ih'] is a str"),
    (lambda p: p["config"].__setitem__("hidden_size", 32), "tensor 'cell.weight_ih' has shape"),
    (lambda p: p["config"].__setitem__("dt_scale", float("nan")), "config dt_scale must be a finite number"),
    (lambda p: p["config"].__setitem__("colour", 1), "incomplete motion model checkpoint"),
    (_set("config", [1]), "no 'config' mapping"),
    (_set("format", "vidgru.clip-classifier"), "not a vidgru motion model checkpoint"),
]
STATE_IDS = ["wrong-shape", "missing-tensor", "extra-tensor", "non-tensor", "config-vs-shapes", "nan-config",
             "unknown-config-key", "config-not-dict", "other-format"]


@pytest.mark.parametrize(("edit", "message"), STATE_CASES, ids=STATE_IDS)
def test_bad_state_models_are_one_checkpoint_error(tmp_path, edit, message):
    from vidgru.track.gru_motion import GruBank, load_motion_checkpoint

    path = _edited(tmp_path, "motion_gru.pt", edit)
    pattern = message.replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(CheckpointError, match=pattern):
        load_motion_checkpoint(path)
    with pytest.raises(CheckpointError, match=pattern):
        GruBank(path)


@pytest.mark.parametrize("flag", ["--state-model-file", "--motion-model"])
@pytest.mark.parametrize(("edit", "message"), STATE_CASES[:2], ids=STATE_IDS[:2])
def test_bad_state_models_through_track(tmp_path, flag, edit, message):
    path = _edited(tmp_path, "motion_gru.pt", edit)
    out = tmp_path / "out.txt"
    result = run_cli(["track", VIDEO, "--detector", "bgsub", "--max-frames", "3", flag, path, "--mot", out])
    assert_one_error(result, names=str(path), contains=message)
    assert not out.exists()


def test_in_memory_state_model_with_wrong_tensors():
    from vidgru.track.gru_motion import GruBank, load_motion_checkpoint

    ckpt = load_motion_checkpoint(MODELS / "motion_gru.pt")
    ckpt.state_dict = {k: v for k, v in ckpt.state_dict.items() if k != "cell.bias_hh"}
    with pytest.raises(CheckpointError, match="needs tensor 'cell.bias_hh'"):
        GruBank(ckpt)


# ------------------------------------------------------------------------------ 4. weights and code pickles


class _MakesMarker:
    """Unpickling this would create a marker file (it must never happen)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _weights_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.pth"
    if kind == "list":
        torch.save([1, 2, 3], path)
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "clip-checkpoint":
        path.write_bytes((MODELS / "camera_motion.pt").read_bytes())
    elif kind == "text":
        path.write_text("these are not weights\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "other-architecture":
        torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    elif kind == "code":
        torch.save({"features.0.0.weight": _MakesMarker(str(tmp_path / "MARKER"))}, path)
    return path


WEIGHTS_CASES = [
    ("list", "is not a mobilenet_v2 state dict: it holds a list"),
    ("tensor", "is not a mobilenet_v2 state dict: it holds a Tensor"),
    ("clip-checkpoint", "is not a mobilenet_v2 state dict: it is a vidgru.clip-classifier checkpoint"),
    ("text", "unreadable as a torch file"),
    ("empty", "the file is empty"),
    ("other-architecture", "the mobilenet_v2 needs tensor"),
    ("code", "refused unread"),
]


@pytest.mark.parametrize(("kind", "message"), WEIGHTS_CASES, ids=[k for k, _ in WEIGHTS_CASES])
def test_bad_weights_files_are_one_line(tmp_path, kind, message):
    import torchvision

    from vidgru.backbone import load_weights_file
    from vidgru.errors import WeightsUnavailableError

    path = _weights_file(tmp_path, kind)
    model = torchvision.models.mobilenet_v2(weights=None)
    with pytest.raises(WeightsUnavailableError) as info:
        load_weights_file(model, path, "mobilenet_v2")
    assert message in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)
    assert "weights_only=False" not in str(info.value)
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize("kind", ["list", "code"])
def test_bad_weights_through_classify(tmp_path, kind):
    path = _weights_file(tmp_path, kind)
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "vidgru", "classify", str(VIDEO), "--weights", str(path),
                           "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and str(path.name) in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and "weights_only" not in proc.stderr
    assert not out.exists() and not (tmp_path / "MARKER").exists()


def test_code_pickle_as_a_model_never_runs(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"format": "vidgru.motion-model", "version": 2, "x": _MakesMarker(str(tmp_path / "MARKER"))}, path)
    proc = subprocess.run([sys.executable, "-m", "vidgru", "track", str(VIDEO), "--detector", "bgsub",
                           "--max-frames", "2", "--state-model-file", str(path)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert proc.returncode == 2 and len(errors) == 1 and "refused unread" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and "weights_only" not in proc.stderr
    assert not (tmp_path / "MARKER").exists()


# ----------------------------------------------------------------------------------- 5. cache dir, 6. data


def test_cache_dir_that_is_a_file(tmp_path):
    from vidgru.train.cache import EmbeddingCache

    regular = tmp_path / "cache"
    regular.write_text("x")
    with pytest.raises(ConfigError, match=f"cache_dir {regular}: not a folder"):
        EmbeddingCache(regular)
    with pytest.raises(ConfigError, match=f"{regular} is a file"):
        EmbeddingCache(regular / "sub")


@pytest.mark.slow
def test_cache_dir_that_is_a_file_through_train(tmp_path):
    regular = tmp_path / "cache"
    regular.write_text("x")
    data = tmp_path / "list.csv"
    data.write_text("".join(f"{SAMPLES / name},{label}\n" for name, label in [
        ("pan_left_then_static.mp4", "a"), ("pan_right_bunny.mp4", "a"), ("static_street.mp4", "b"),
        ("zoom_in.mp4", "b")]))
    out = tmp_path / "m.pt"
    result = run_cli(["train", data, "--cache-dir", regular, "--weights", "none", "--out", out])
    assert_one_error(result, names=str(regular), contains="not a folder")
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (f"{VIDEO},a\n\n{SAMPLES / 'nope.mp4'},b\n".encode(), ":3: {}: no such file".format(SAMPLES / "nope.mp4")),
        (f"{VIDEO},a\n{SAMPLES / 'static_street.mp4'},\n".encode(), ":2: empty label"),
        (f"{VIDEO},a\xff\n".encode("latin-1"), ":1: not UTF-8 text"),
        (b"\x00\x01\x02binary", "a binary file"),
        (f"{VIDEO},a\n{SAMPLES / 'static_street.mp4'},a\n".encode(), "need at least two classes"),
        (f"{VIDEO},a\n".encode(), "need at least two classes"),
        (f"{VIDEO}\n".encode(), "expected 'path,label'"),
    ],
    ids=["missing-file", "empty-label", "not-utf8", "binary", "one-class", "one-clip", "no-label"],
)
def test_bad_training_lists_are_one_dataset_error(tmp_path, content, message):
    data = tmp_path / "list.csv"
    data.write_bytes(content)
    out = tmp_path / "m.pt"
    result = run_cli(["train", data, "--out", out])
    assert_one_error(result, names="error:", contains=message)
    assert not out.exists()


def test_blank_lines_and_comments_in_lists_are_skipped(tmp_path):
    from vidgru.train.dataset import load_labelled_set

    data = tmp_path / "list.csv"
    data.write_text(f"path,label\n\n# a comment\n{VIDEO},a\n\n{SAMPLES / 'static_street.mp4'},b\n")
    assert [s.label for s in load_labelled_set(data).samples] == ["a", "b"]
    data.write_bytes(b"\xef\xbb\xbf" + f"{VIDEO},a\n".encode())  # a BOM, as some spreadsheets write
    assert load_labelled_set(data).samples[0].path == str(VIDEO)
    with pytest.raises(DatasetError, match="no such file"):
        data.write_text("missing.mp4,a\n")
        load_labelled_set(data)


# --------------------------------------------------------------------------------------- 7. camera indices


@pytest.mark.parametrize(
    "args",
    [["track", "--webcam", "99999999999999999999", "--detector", "bgsub"],
     ["track", "99999999999999999999", "--detector", "bgsub"]],
    ids=["track-webcam", "track-source"],
)
def test_huge_camera_index_through_track(args):
    result = run_cli(args)
    assert_one_error(result, names="no camera 99999999999999999999")


def test_huge_camera_index_through_classify():
    result = run_cli(["classify", "99999999999999999999"])
    assert_one_error(result, names="no camera 99999999999999999999", code=1)


@pytest.mark.parametrize("source", [-1, 2**31, "99999999999999999999"], ids=["negative", "2^31", "huge-text"])
def test_camera_index_bounds(source):
    from vidgru.video import expand_inputs
    from vidgru.video.inputs import classify_source

    with pytest.raises(VideoOpenError, match=f"no camera {source}"):
        classify_source(source)
    with pytest.raises(VideoOpenError, match=f"no camera {source}"):
        expand_inputs([source])
    assert classify_source("2147483647")[1] == 2**31 - 1


# ------------------------------------------------------------------------------------- 8. MOT text files

SEQINFO = "[Sequence]\nname=seqA\nframeRate=10\nseqLength=3\nimWidth=100\nimHeight=100\n"
GOOD = "1,1,10,10,20,20,1,1,1\n2,1,11,10,20,20,1,1,1\n3,1,12,10,20,20,1,1,1\n"


def _mot_tree(tmp_path: Path, names=("seqA",)) -> tuple[Path, Path]:
    gt, res = tmp_path / "gt", tmp_path / "res"
    for name in names:
        (gt / name / "gt").mkdir(parents=True)
        (gt / name / "seqinfo.ini").write_text(SEQINFO.replace("seqA", name))
        (gt / name / "gt" / "gt.txt").write_text(GOOD)
        (res / name).parent.mkdir(parents=True, exist_ok=True)
        (res / f"{name}.txt").write_text(GOOD.replace(",1,1,1\n", ",1,-1,-1,-1\n"))
    return gt, res


@pytest.mark.parametrize(
    ("where", "content", "message"),
    [
        ("res", b"1,1,10,10,nan,20,1,-1,-1,-1\n", "seqA.txt:1: expected"),
        ("res", b"1,1,10,10,inf,20,1,-1,-1,-1\n", "seqA.txt:1: expected"),
        ("res", b"\x00\xff\x01\x02", "not UTF-8"),
        ("gt", b"1,1,10,nan,20,20,1,1,1\n", "gt.txt:1: expected"),
        ("gt", b"\xff\xfe\x00\x01", "not UTF-8"),
    ],
    ids=["results-nan", "results-inf", "results-binary", "gt-nan", "gt-binary"],
)
def test_eval_track_one_line_per_bad_file(tmp_path, where, content, message):
    gt, res = _mot_tree(tmp_path, names=("seqA", "seqB"))
    bad = res / "seqA.txt" if where == "res" else gt / "seqA" / "gt" / "gt.txt"
    bad.write_bytes(content)
    out = tmp_path / "report.json"
    result = run_cli(["eval-track", "--gt", gt, "--results", res, "--json", out])
    assert_one_error(result, names="error: seqA:", contains=message, code=1)
    assert "not evaluated" not in result.output and "seqA" not in result.stdout
    assert "seqB" in result.stdout  # the other sequence is still evaluated and reported


def test_eval_track_with_nothing_evaluated_prints_only_the_errors(tmp_path):
    gt, res = _mot_tree(tmp_path)
    (res / "seqA.txt").write_bytes(b"\x00\x00")
    result = run_cli(["eval-track", "--gt", gt, "--results", res])
    assert_one_error(result, names="error: seqA:", code=1)
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"1,-1,10,10,nan,20,0.9\n", "det.txt:1"), (b"\x00\xff\x00\xff", "det.txt")],
    ids=["det-nan", "det-binary"],
)
def test_track_with_a_bad_det_file(tmp_path, content, message):
    seq = tmp_path / "seqA"
    (seq / "det").mkdir(parents=True)
    (seq / "img1").mkdir()
    frames = sorted((SAMPLES / "frames").iterdir())[:3]
    for i, frame in enumerate(frames, 1):
        os.symlink(frame, seq / "img1" / f"{i:06d}{frame.suffix}")
    (seq / "seqinfo.ini").write_text(SEQINFO.replace("seqLength=3", f"seqLength={len(frames)}"))
    (seq / "det" / "det.txt").write_bytes(content)
    out = tmp_path / "out.txt"
    result = run_cli(["track", seq, "--mot", out, "--no-appearance"])
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert result.exit_code in (1, 2) and len(errors) == 1 and message in errors[0], result.stderr
    assert not out.exists()
