"""Tracking evaluation through trackers.eval, with TrackEval's MOT15 / MOT17 ground-truth rules."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from vidgru.errors import ConfigError, DatasetError, VidgruError
from vidgru.metrics import evaluate_tracking, format_tracking_report
from vidgru.mot import open_mot_sequence, read_mot_txt

pytest.importorskip("trackers.eval")


def _save(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.asarray(rows, np.float64).reshape(-1, np.shape(rows)[-1] if len(rows) else 6),
               fmt="%.10g", delimiter=",")
    return path


def _evaluate(tmp_path, gt_rows, tracker_rows, **kwargs):
    gt = _save(tmp_path / "gt" / "SEQ.txt", gt_rows)
    _save(tmp_path / "results" / "SEQ.txt", tracker_rows)
    report = evaluate_tracking([("SEQ", gt)], tmp_path / "results", **kwargs)
    assert not report.errors, report.errors
    return report.sequences[0]


@pytest.fixture(scope="module")
def tud_gt(shared_data):
    return read_mot_txt(shared_data / "mot15/train/TUD-Campus/gt/gt.txt")


def test_mmtracking_example_output_on_tud_campus(shared_data):
    """Regression numbers: open-mmlab/mmtracking's example tracker output for TUD-Campus."""
    train = shared_data / "mot15/train"
    report = evaluate_tracking([open_mot_sequence(train / "TUD-Campus")], train / "results")
    m = report.sequences[0]
    assert (m.name, m.benchmark) == ("TUD-Campus", "MOT15")
    assert m.hota == pytest.approx(39.140, abs=0.01)
    assert m.mota == pytest.approx(52.646, abs=0.01)
    assert m.idf1 == pytest.approx(55.766, abs=0.01)
    assert (m.idsw, m.tp, m.fp, m.fn, m.mt, m.pt, m.ml) == (7, 209, 13, 150, 1, 6, 1)
    assert m.deta == pytest.approx(41.805, abs=0.01) and m.assa == pytest.approx(36.912, abs=0.01)
    assert report.combined.to_dict() == {**m.to_dict(), "name": "COMBINED"}


def test_a_split_folder_reports_sequences_without_results(shared_data):
    train = shared_data / "mot15/train"
    report = evaluate_tracking(train, train / "results")
    assert [m.name for m in report.sequences] == ["TUD-Campus"]
    assert set(report.errors) == {"ADL-Rundle-6", "ADL-Rundle-8", "ETH-Bahnhof", "ETH-Pedcross2", "KITTI-13",
                                  "PETS09-S2L1", "Venice-2"}
    assert "no results file" in report.errors["KITTI-13"] and "KITTI-13.txt" in report.errors["KITTI-13"]
    text = format_tracking_report(report)
    assert "TUD-Campus" in text and "COMBINED" in text and "not evaluated:" in text
    assert json.loads(json.dumps(report.to_dict()))["combined"]["idsw"] == 7


@pytest.mark.parametrize(
    "sequence", ["TUD-Campus", "ETH-Bahnhof", "PETS09-S2L1"],
    ids=["world-coords-minus-1", "world-coords-with-flag-0", "world-coords-z-0"])
def test_mot15_ground_truth_against_itself_is_perfect(shared_data, tmp_path, sequence):
    gt_path = shared_data / "mot15/train" / sequence / "gt/gt.txt"
    rows = read_mot_txt(gt_path)
    scored = rows[rows[:, 6] != 0]  # a tracker box on an ignored (flag 0) row would be a false positive
    _save(tmp_path / f"{sequence}.txt", scored[:, :6])
    m = evaluate_tracking([(sequence, gt_path)], tmp_path).sequences[0]
    assert m.benchmark == "MOT15"
    assert (m.hota, m.mota, m.idf1, m.idsw, m.fp, m.fn) == (100.0, 100.0, 100.0, 0, 0, 0)
    assert m.gt_boxes == len(scored)  # every flag-1 row counts, whatever its world coordinates say


def test_mot17_ground_truth_against_itself(shared_data, tmp_path):
    """Fed the whole gt.txt, pedestrians match, distractors (classes 2, 7, 8) are removed, and the other
    flag-0 rows (bicycle 4, occluder 9) are false positives, as in TrackEval."""
    seq = open_mot_sequence(shared_data / "mot17_mini/train/MOT17-02-FRCNN")
    rows = read_mot_txt(seq.gt_path)
    pedestrians = rows[(rows[:, 6] == 1) & (rows[:, 7] == 1)]
    _save(tmp_path / "scored" / f"{seq.name}.txt", pedestrians[:, :6])
    _save(tmp_path / "all" / f"{seq.name}.txt", rows[:, :6])

    m = evaluate_tracking(seq, tmp_path / "scored").sequences[0]
    assert m.benchmark == "MOT17"
    assert (m.hota, m.mota, m.idf1, m.idsw, m.fp, m.fn, m.gt_boxes) == (100.0, 100.0, 100.0, 0, 0, 0, 88)

    m = evaluate_tracking(seq, tmp_path / "all").sequences[0]
    assert (m.tp, m.fn, m.idsw) == (88, 0, 0)
    assert m.fp == int(np.isin(rows[:, 7], [4, 9]).sum()) == 20


def test_swapping_two_ids_mid_sequence_is_an_id_switch(tud_gt, tmp_path):
    rows = tud_gt[:, :6].copy()
    later = rows[:, 0] > 35
    one, two = later & (rows[:, 1] == 4), later & (rows[:, 1] == 5)  # both walk through all 71 frames
    assert one.sum() == two.sum() == 36
    rows[one, 1], rows[two, 1] = 5, 4
    m = _evaluate(tmp_path, tud_gt, rows)
    assert m.idsw == 2 and (m.fp, m.fn) == (0, 0)
    assert m.mota < 100 and m.idf1 < 100 and m.hota < 100 and m.deta == 100


def test_dropping_half_the_boxes_lowers_mota(tud_gt, tmp_path):
    half = tud_gt[::2, :6]
    m = _evaluate(tmp_path, tud_gt, half)
    assert (m.tp, m.fp, m.fn) == (len(half), 0, len(tud_gt) - len(half))
    assert m.mota == pytest.approx(100 * len(half) / len(tud_gt), abs=1e-9)
    assert m.idf1 < 100 and m.hota < 100


def test_mot15_flag_zero_is_not_a_miss_but_a_box_on_it_is_a_false_positive(tmp_path):
    # Two people in each of 5 frames; person 2 is an ignore row (flag 0). World coordinates 7, 2 would be a
    # distractor class / not a pedestrian if read as MOT17.
    gt = [[f, 1, 10, 10, 20, 40, 1, 7, 2, 0] for f in range(1, 6)]
    gt += [[f, 2, 100, 10, 20, 40, 0, -1, -1, -1] for f in range(1, 6)]
    both = [[f, tid, x, 10, 20, 40] for f in range(1, 6) for tid, x in ((11, 10), (12, 100))]
    m = _evaluate(tmp_path, gt, both)
    assert m.benchmark == "MOT15"
    assert (m.gt_boxes, m.tp, m.fn, m.fp) == (5, 5, 0, 5)  # TrackEval MOT15: ignored, not masked

    only_scored = [r for r in both if r[1] == 11]
    m = _evaluate(tmp_path, gt, only_scored)
    assert (m.mota, m.fn, m.fp) == (100.0, 0, 0)


def test_mot17_distractor_matches_are_removed_and_other_classes_not_scored(tmp_path):
    gt = []
    for f in range(1, 6):
        gt += [[f, 1, 10, 10, 20, 40, 1, 1, 1.0],  # pedestrian
               [f, 2, 100, 10, 20, 40, 0, 7, 1.0],  # static person: distractor
               [f, 3, 200, 10, 60, 30, 0, 3, 1.0],  # car: not scored
               [f, 4, 300, 10, 20, 40, 0, 1, 0.1]]  # pedestrian marked ignore
    on_distractor = [[f, tid, x, 10, 20, 40] for f in range(1, 6) for tid, x in ((11, 10), (12, 100))]
    m = _evaluate(tmp_path, gt, on_distractor)
    assert m.benchmark == "MOT17"
    assert (m.gt_boxes, m.tp, m.fn, m.fp, m.mota) == (5, 5, 0, 0, 100.0)

    on_ignored = [[f, tid, x, 10, 20, 40] for f in range(1, 6) for tid, x in ((11, 10), (14, 300))]
    assert _evaluate(tmp_path, gt, on_ignored).fp == 5

    # Read as MOT15 (no classes), every flag-1 row is a pedestrian and no box is a distractor.
    m = _evaluate(tmp_path, gt, on_distractor, benchmark="MOT15")
    assert (m.benchmark, m.gt_boxes, m.fp) == ("MOT15", 5, 5)


def test_an_empty_results_file_misses_everything(tud_gt, tmp_path):
    m = _evaluate(tmp_path, tud_gt, [])
    assert (m.tp, m.fp, m.fn, m.mota, m.hota) == (0, 0, len(tud_gt), 0.0, 0.0)


def test_combined_sums_counts_over_sequences(tud_gt, tmp_path):
    gt_a, gt_b = _save(tmp_path / "gt" / "A.txt", tud_gt), _save(tmp_path / "gt" / "B.txt", tud_gt)
    _save(tmp_path / "results" / "A.txt", tud_gt[:, :6])
    _save(tmp_path / "results" / "B.txt", tud_gt[::2, :6])
    report = evaluate_tracking([("A", gt_a), ("B", gt_b), ("C", gt_b)], tmp_path / "results")
    a, b = report.sequences
    c = report.combined
    assert (c.tp, c.fn, c.gt_boxes) == (a.tp + b.tp, a.fn + b.fn, 2 * len(tud_gt))
    assert c.mota == pytest.approx(100 * c.tp / c.gt_boxes) and a.mota > c.mota > b.mota
    assert list(report.errors) == ["C"]


@pytest.mark.parametrize(
    ("tracker_rows", "message"),
    [
        ([[1, 5, 0, 0, 10, 10], [1, 5, 20, 0, 10, 10]], "id 5 appears more than once in frame 1"),
        ([[0, 5, 0, 0, 10, 10]], "SEQ.txt:1: expected frame >= 1 (integer)"),
        ([[1, 5, 0, 0, 10]], "5 columns, expected at least 6"),
    ],
    ids=["duplicate-id", "zero-based", "too-few-columns"],
)
def test_a_malformed_results_file_is_reported_not_raised(tud_gt, tmp_path, tracker_rows, message):
    gt = _save(tmp_path / "gt.txt", tud_gt)
    _save(tmp_path / "results" / "SEQ.txt", tracker_rows)
    report = evaluate_tracking([("SEQ", gt)], tmp_path / "results")
    assert report.sequences == [] and report.combined is None
    assert message in report.errors["SEQ"]
    assert "(no sequence evaluated)" in format_tracking_report(report)


def test_mot15_ground_truth_read_as_mot17_is_refused_with_a_hint(shared_data, tmp_path):
    shutil.copy(shared_data / "mot15/train/results/TUD-Campus.txt", tmp_path / "TUD-Campus.txt")
    report = evaluate_tracking(shared_data / "mot15/train/TUD-Campus", tmp_path, benchmark="MOT17")
    assert "class -1 is not a MOT17 class" in report.errors["TUD-Campus"]
    assert "benchmark 'MOT15'" in report.errors["TUD-Campus"]


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="unknown benchmark 'MOT99'; valid: auto, MOT15, MOT17"):
        evaluate_tracking([("SEQ", tmp_path / "gt.txt")], tmp_path, benchmark="MOT99")
    with pytest.raises(DatasetError, match="results folder .* does not exist"):
        evaluate_tracking([("SEQ", tmp_path / "gt.txt")], tmp_path / "absent")
    with pytest.raises(DatasetError, match="no MOTChallenge sequences in"):
        evaluate_tracking(tmp_path, tmp_path)
    with pytest.raises(DatasetError, match="names must be unique"):
        evaluate_tracking([("A", tmp_path / "a.txt"), ("A", tmp_path / "b.txt")], tmp_path)


def test_missing_trackers_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "trackers", None)
    monkeypatch.setitem(sys.modules, "trackers.eval", None)
    with pytest.raises(VidgruError, match=r"needs the 'trackers' package .* pip install 'vidgru\[eval\]'"):
        evaluate_tracking([("SEQ", tmp_path / "gt.txt")], tmp_path)
