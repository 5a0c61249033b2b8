"""Property-based tests (hypothesis): the readers of user files raise only their own error, and the box
arithmetic of the tracker keeps its invariants on any valid input."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vidgru.errors import ConfigError, DatasetError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """Writes a fresh file holding ``data`` for each example (hypothesis runs many examples per test, and a
    function-scoped tmp_path would be shared between them)."""
    root = tmp_path_factory.mktemp("properties")

    def write(data: bytes | str, name: str) -> Path:
        return _scratch(root, data, name)

    return write


def _scratch(root: Path, data: bytes | str, name: str) -> Path:
    path = Path(tempfile.mkdtemp(dir=root)) / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------- MOT text rows

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)
size = st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e9)


@st.composite
def mot_rows(draw) -> np.ndarray:
    n = draw(st.integers(1, 20))
    extra = draw(st.integers(0, 4))  # score, x/y/z or class, visibility: MOT15..MOT17 widths
    rows = []
    for _ in range(n):
        row = [float(draw(st.integers(1, 100_000))), draw(finite), draw(finite), draw(finite), draw(size), draw(size)]
        rows.append(row + [draw(finite) for _ in range(extra)])
    return np.array(rows, np.float64)


@FAST
@given(rows=mot_rows(), sep=st.sampled_from([",", ", ", " ", "\t"]), trailing=st.booleans(),
       blank=st.booleans())
def test_mot_rows_written_as_text_read_back_equal(scratch, rows, sep, trailing, blank):
    from vidgru.mot import read_mot_txt

    lines = [sep.join(repr(float(v)) for v in row) + ("," if trailing and "," in sep else "") for row in rows]
    if blank:
        lines.insert(len(lines) // 2, "")
    got = read_mot_txt(scratch("\n".join(lines) + "\n", "gt.txt"))
    np.testing.assert_array_equal(got, rows)


mot_garbage_line = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.from_regex(r"-?[0-9]{1,4}(\.[0-9]{0,3})?", fullmatch=True),
                       st.sampled_from(["nan", "inf", "-inf", "1e400", "", " ", "x", "1,", "0", "-1", "2.5"])),
             min_size=0, max_size=9).map(",".join),
)


@FAST
@given(lines=st.lists(mot_garbage_line, max_size=8), raw=st.binary(max_size=64), use_raw=st.booleans(),
       keep=st.sampled_from([None, 6, 7]))
def test_mot_garbage_raises_only_dataset_error(scratch, lines, raw, use_raw, keep):
    from vidgru.mot import read_mot_txt

    data = raw if use_raw else "\n".join(lines).encode("utf-8", "surrogatepass")
    try:
        rows = read_mot_txt(scratch(data, "det.txt"), keep=keep)
    except DatasetError:
        return
    assert rows.ndim == 2 and rows.dtype == np.float64
    if len(rows):  # what the reader promises of every row it returns
        assert np.isfinite(rows).all() and (rows[:, 0] >= 1).all() and (rows[:, 0] == np.round(rows[:, 0])).all()
        assert (rows[:, 4:6] >= 0).all()


# ------------------------------------------------------------------------------- training data lists

# a path or label as a user would type it: no surrounding blanks, no tabs or line breaks, not a comment
name_text = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\t"),
                    min_size=1, max_size=20).map(str.strip).filter(lambda s: s and not s.startswith(("#", "~")))


# a clip's file name: one path component, no glob characters (a list may name globs of image sequences)
file_name = name_text.filter(lambda s: "/" not in s and s.strip(".") and not any(c in s for c in "*?["))


@FAST
@given(rows=st.lists(st.tuples(file_name, name_text), min_size=1, max_size=8))
def test_a_csv_list_of_clips_reads_back_its_rows(scratch, rows):
    from vidgru.train.dataset import load_labelled_set

    if [c.lower() for c in rows[0]] == ["path", "label"]:
        rows = rows[1:] or [("clip.mp4", "a")]  # a header line is skipped by design
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    path = scratch(buf.getvalue(), "list.csv")
    for clip, _ in rows:  # the list's clips must exist
        (path.parent / clip).write_bytes(b"")
    data = load_labelled_set(path)
    assert [(s.path, s.label) for s in data.samples] == [(str(path.parent / p), label) for p, label in rows]
    assert data.class_names == sorted({label for _, label in rows})


@FAST
@given(text=st.text(max_size=200), raw=st.binary(max_size=100), use_raw=st.booleans())
def test_a_garbage_list_of_clips_raises_only_dataset_error(scratch, text, raw, use_raw):
    from vidgru.train.dataset import load_labelled_set

    path = scratch(raw if use_raw else text.encode("utf-8", "surrogatepass"), "list.csv")
    try:
        load_labelled_set(path)
    except DatasetError:
        pass


# -------------------------------------------------------------------------------------------- configs

yaml_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
)
yaml_value = st.recursive(yaml_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                               st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                          max_leaves=6)


def _settings_classes():
    from vidgru import settings as s

    return [s.ClassifySettings, s.TrackSettings, s.TrainSettings, s.StateModelTrainSettings, s.BatchSettings]


@st.composite
def config_mapping(draw):
    import dataclasses

    cls = draw(st.sampled_from(_settings_classes()))
    names = [f.name for f in dataclasses.fields(cls)]
    keys = draw(st.lists(st.one_of(st.sampled_from(names), st.text(max_size=8)), max_size=6, unique=True))
    return cls, {k: draw(yaml_value) for k in keys}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=config_mapping())
def test_build_config_raises_only_config_error_for_any_yaml_mapping(scratch, case):
    from vidgru.config import build_config

    cls, mapping = case
    path = scratch(yaml.safe_dump(mapping, allow_unicode=True), "config.yaml")
    try:
        build_config(cls, path)
    except ConfigError:
        pass


@FAST
@given(text=st.text(max_size=120), raw=st.binary(max_size=60), use_raw=st.booleans())
def test_build_config_raises_only_config_error_for_any_file(scratch, text, raw, use_raw):
    from vidgru.config import build_config
    from vidgru.settings import ClassifySettings

    path = scratch(raw if use_raw else text.encode("utf-8", "surrogatepass"), "config.yaml")
    try:
        build_config(ClassifySettings, path)
    except ConfigError:
        pass


# ------------------------------------------------------------------------------------ boxes and IoU

coord = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
extent = st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False)
solid = st.floats(min_value=1e-2, max_value=1e4, allow_nan=False, allow_infinity=False)


@st.composite
def boxes_xyxy(draw, *, min_size: float = 0.0, max_n: int = 8, min_n: int = 0) -> np.ndarray:
    n = draw(st.integers(min_n, max_n))
    side = solid if min_size else extent
    out = []
    for _ in range(n):
        x, y, w, h = draw(coord), draw(coord), draw(side), draw(side)
        out.append([x, y, x + w, y + h])
    return np.array(out, np.float64).reshape(n, 4)


@FAST
@given(b=boxes_xyxy())
def test_box_conversions_round_trip(b):
    from vidgru.track.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh

    before = b.copy()
    c = xyxy_to_cxcywh(b)
    np.testing.assert_array_equal(b, before)  # the input is not changed
    assert (c[:, 2:4] >= 0).all()
    np.testing.assert_allclose(cxcywh_to_xyxy(c), b, rtol=0, atol=1e-9 * (1 + np.abs(b).max(initial=0)))


@FAST
@given(a=boxes_xyxy(), b=boxes_xyxy())
def test_iou_is_a_symmetric_fraction(a, b):
    from vidgru.track.association import iou_matrix

    m = iou_matrix(a, b)
    assert m.shape == (len(a), len(b))
    assert ((m >= 0) & (m <= 1)).all()
    np.testing.assert_allclose(m, iou_matrix(b, a).T, rtol=1e-12, atol=1e-12)


@FAST
@given(a=boxes_xyxy(min_size=1e-2, min_n=1))
def test_iou_of_a_box_with_itself_is_one(a):
    from vidgru.track.association import iou_matrix

    np.testing.assert_allclose(np.diag(iou_matrix(a, a)), 1.0, rtol=1e-12)


@FAST
@given(sim=hnp.arrays(np.float64, st.tuples(st.integers(0, 7), st.integers(0, 7)),
                      elements=st.floats(-1, 2, allow_nan=False)),
       threshold=st.floats(0, 1))
def test_assign_is_one_to_one_above_the_threshold_and_leaves_its_input(sim, threshold):
    from vidgru.track.association import assign

    before = sim.copy()
    matches, free_rows, free_cols = assign(sim, threshold)
    np.testing.assert_array_equal(sim, before)
    assert matches.shape[1] == 2
    rows, cols = matches[:, 0], matches[:, 1]
    assert len(set(rows)) == len(rows) and len(set(cols)) == len(cols)
    assert (sim[rows, cols] >= threshold).all()
    assert sorted([*rows, *free_rows]) == list(range(sim.shape[0]))
    assert sorted([*cols, *free_cols]) == list(range(sim.shape[1]))
    # nothing left on the table: no free row and free column that could still be paired
    assert not (sim[np.ix_(free_rows, free_cols)] >= threshold).any() or len(matches) == min(sim.shape)


@FAST
@given(pred=boxes_xyxy(min_size=1e-2), boxes=boxes_xyxy(), data=st.data())
def test_box_likelihood_is_in_zero_one(pred, boxes, data):
    from vidgru.track.association import box_likelihood

    spread = data.draw(hnp.arrays(np.float64, (len(pred), 4), elements=st.floats(0, 10, allow_nan=False)))
    like = box_likelihood(pred, spread, boxes)
    assert like.shape == (len(pred), len(boxes))
    assert ((like > 0) & (like <= 1)).all(), like
    if len(pred):
        np.testing.assert_allclose(np.diag(box_likelihood(pred, spread, pred)), 1.0)


@pytest.mark.parametrize(("width", "height"), [(0.0, 5.0), (5.0, 0.0), (0.0, 0.0)], ids=["no-width", "no-height",
                                                                                           "a-point"])
def test_box_likelihood_of_a_degenerate_prediction_is_a_number(width, height):
    """A state model can predict a box that has shrunk to a line or a point: its likelihoods must still be
    numbers in (0, 1] (a NaN would reach the Hungarian assignment, which refuses it)."""
    from vidgru.track.association import box_likelihood

    pred = np.array([[10.0, 10.0, 10.0 + width, 10.0 + height]])
    boxes = np.array([[10.0, 10.0, 10.0 + width, 10.0 + height], [12.0, 11.0, 20.0, 30.0]])
    like = box_likelihood(pred, np.full((1, 4), 0.1), boxes)
    assert np.isfinite(like).all() and ((like > 0) & (like <= 1)).all(), like
