"""MOTChallenge sequence folders: seqinfo.ini, det/gt files, the image folder, and their errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidgru.errors import DatasetError
from vidgru.mot import (
    find_mot_sequences,
    is_mot_sequence,
    open_mot_sequence,
    read_mot_txt,
)

MOT15_NAMES = ["ADL-Rundle-6", "ADL-Rundle-8", "ETH-Bahnhof", "ETH-Pedcross2", "KITTI-13", "PETS09-S2L1",
               "TUD-Campus", "Venice-2"]

SEQINFO = """[Sequence]
name=Seq-1
imDir=img1
frameRate={fps}
seqLength=40
imWidth=64
imHeight=48
imExt=.jpg
"""


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_mot15_sequence_from_seqinfo_without_images(shared_data):
    seq = open_mot_sequence(shared_data / "mot15/train/TUD-Campus")
    assert (seq.name, seq.fps, seq.length, seq.width, seq.height) == ("TUD-Campus", 25.0, 71, 640, 480)
    assert seq.duration_s == pytest.approx(71 / 25)
    assert seq.det_path.name == "det.txt" and seq.gt_path.name == "gt.txt"
    assert seq.image_dir is None  # seqinfo says img1/, but MOT15 here ships no images


def test_mot17_mini_images_are_in_a_folder_named_like_the_sequence(shared_data):
    seq = open_mot_sequence(shared_data / "mot17_mini/train/MOT17-05-FRCNN")
    assert seq.image_dir is not None and seq.image_dir.name == "MOT17-05-FRCNN"
    assert (seq.image_dir / f"000001{seq.image_ext}").is_file()
    assert (seq.fps, seq.length, seq.width, seq.height) == (14.0, 837, 640, 480)


def test_find_sequences_in_a_split_skips_other_folders(shared_data):
    sequences = find_mot_sequences(shared_data / "mot15/train")  # also holds results/, not a sequence
    assert [s.name for s in sequences] == MOT15_NAMES
    assert {s.fps for s in sequences} == {30.0, 14.0, 10.0, 7.0, 25.0}


def test_find_sequences_on_a_sequence_folder_returns_it(shared_data):
    assert [s.name for s in find_mot_sequences(shared_data / "mot15/train/KITTI-13")] == ["KITTI-13"]


def test_find_sequences_in_a_folder_without_any(tmp_path):
    assert find_mot_sequences(tmp_path) == []
    with pytest.raises(DatasetError, match="is not a folder"):
        find_mot_sequences(tmp_path / "absent")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["seqinfo.ini"], True),
        (["det/det.txt"], True),
        (["gt/gt.txt"], True),
        (["img1/000001.jpg"], False),
        ([], False),
    ],
    ids=["seqinfo", "det-only", "gt-only", "images-only", "empty"],
)
def test_is_mot_sequence(tmp_path, files, expected):
    for rel in files:
        _write(tmp_path / "seq" / rel, "")
    (tmp_path / "seq").mkdir(exist_ok=True)
    assert is_mot_sequence(tmp_path / "seq") is expected


def test_fps_overrides_seqinfo(tmp_path):
    _write(tmp_path / "seqinfo.ini", SEQINFO.format(fps=30))
    assert open_mot_sequence(tmp_path).fps == 30.0
    assert open_mot_sequence(tmp_path, fps=12.5).fps == 12.5


def test_without_seqinfo_the_frame_rate_must_be_given(tmp_path):
    _write(tmp_path / "det/det.txt", "1,-1,10,10,5,5,0.9,-1,-1,-1\n17,-1,10,10,5,5,0.8,-1,-1,-1\n")
    with pytest.raises(DatasetError, match="no seqinfo.ini: pass the frame rate"):
        open_mot_sequence(tmp_path)
    seq = open_mot_sequence(tmp_path, fps=10)
    # Length from the last annotated frame; size unknown without images.
    assert (seq.name, seq.fps, seq.length, seq.width, seq.height) == (tmp_path.name, 10.0, 17, None, None)
    assert seq.gt_path is None and seq.image_dir is None


def test_without_seqinfo_length_and_size_come_from_the_images(tmp_path):
    _write(tmp_path / "gt/gt.txt", "1,1,10,10,5,5,1,1,1\n")
    (tmp_path / "img1").mkdir()
    for i in range(1, 4):
        cv2.imwrite(str(tmp_path / "img1" / f"{i:06d}.jpg"), np.zeros((37, 53, 3), np.uint8))
    seq = open_mot_sequence(tmp_path, fps=5)
    assert (seq.length, seq.width, seq.height, seq.image_dir.name) == (3, 53, 37, "img1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SEQINFO.format(fps="fast"), r"seqinfo.ini: \[Sequence\] frameRate='fast' is not a positive number"),
        (SEQINFO.format(fps=30).replace("seqLength=40", "seqLength=-3"), "seqLength='-3' is not a positive"),
        (SEQINFO.format(fps=30).replace("imWidth=64", "imWidth=6.5"), "imWidth='6.5' is not a positive"),
        (SEQINFO.format(fps=30).replace("frameRate=30\n", ""), "seqinfo.ini has no 'frameRate'"),
        ("[Info]\nname=x\n", r"seqinfo.ini: no \[Sequence\] section"),
        ("name=x\n", "seqinfo.ini: not a valid ini file"),
    ],
    ids=["fps-not-a-number", "negative-length", "fractional-width", "no-frame-rate", "no-section", "not-ini"],
)
def test_bad_seqinfo_names_the_file_and_key(tmp_path, text, message):
    _write(tmp_path / "seqinfo.ini", text)
    with pytest.raises(DatasetError, match=message) as info:
        open_mot_sequence(tmp_path)
    assert "\n" not in str(info.value)


def test_not_a_sequence(tmp_path):
    with pytest.raises(DatasetError, match="is not a MOTChallenge sequence"):
        open_mot_sequence(tmp_path)


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("1,2,3,4,5,6,1\n\n2,3,4,5,6,7,0.5\n", (2, 7)),
        ("1 2 3 4 5 6\n", (1, 6)),
        ("1,2,3,4,5,6,\n", (1, 6)),
        ("", (0, 6)),
    ],
    ids=["commas-blank-line", "whitespace", "trailing-comma", "empty"],
)
def test_read_mot_txt(tmp_path, text, shape):
    rows = read_mot_txt(_write(tmp_path / "a.txt", text))
    assert rows.shape == shape and rows.dtype == np.float64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3,4,5,6\n1,2,x,4,5,6\n", r"a.txt:2: not a MOTChallenge row"),
        ("1,2,3,4,5\n", r"a.txt:1: 5 columns, expected at least 6"),
        ("1,2,3,4,5,6\n1,2,3,4,5,6,7\n", r"a.txt:2: 7 columns, expected 6"),
    ],
    ids=["not-a-number", "too-few-columns", "ragged"],
)
def test_read_mot_txt_errors_name_file_and_line(tmp_path, text, message):
    with pytest.raises(DatasetError, match=message):
        read_mot_txt(_write(tmp_path / "a.txt", text))
