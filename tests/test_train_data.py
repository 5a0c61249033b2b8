"""Training data: data set layouts, splits, the embedding cache and window sampling."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from vidgru.errors import DatasetError
from vidgru.train.cache import EmbeddingCache, content_fingerprint
from vidgru.train.dataset import LabelledSet, Sample, load_labelled_set, stratified_split
from vidgru.train.loop import sample_window


@pytest.fixture()
def folder_set(tmp_path, repo_root):
    samples = repo_root / "sample_videos"
    for cls, names in {"pans": ["pan_left_then_static.mp4", "pan_right_bunny.mp4"],
                       "still": ["static_street.mp4", "zoom_in.mp4"]}.items():
        (tmp_path / "data" / cls).mkdir(parents=True)
        for name in names:
            shutil.copy(samples / name, tmp_path / "data" / cls / name)
    return tmp_path / "data"


def test_folder_of_class_folders(folder_set):
    data = load_labelled_set(folder_set)
    assert data.class_names == ["pans", "still"]
    assert data.counts() == {"pans": 2, "still": 2}
    assert all(s.path.endswith(".mp4") for s in data.samples)


def test_csv_and_txt_lists(tmp_path, folder_set):
    (tmp_path / "list.csv").write_text("path,label\ndata/pans/pan_right_bunny.mp4,pans\n"
                                       "# a comment\ndata/still/zoom_in.mp4,still\n")
    (tmp_path / "list.txt").write_text("data/pans/pan_right_bunny.mp4 pans\ndata/still/zoom_in.mp4 still\n")
    for name in ("list.csv", "list.txt"):
        data = load_labelled_set(tmp_path / name)
        assert [s.label for s in data.samples] == ["pans", "still"]
        assert data.samples[0].path == str(tmp_path / "data/pans/pan_right_bunny.mp4")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nope", "no such file"),
        (lambda p: p, "no clips found"),
        (lambda p: (p / "l.csv").write_text("just_a_path.mp4\n") and p / "l.csv", "expected 'path,label'"),
    ],
    ids=["missing", "empty", "bad-row"],
)
def test_bad_data_sets(tmp_path, make, message):
    with pytest.raises(DatasetError, match=message):
        load_labelled_set(make(tmp_path))


def test_labels_unknown_to_the_model(folder_set):
    with pytest.raises(DatasetError, match="not classes of the model"):
        load_labelled_set(folder_set, class_names=["pans", "other"])


def test_stratified_split_keeps_every_class_on_both_sides():
    data = LabelledSet([Sample(f"{c}{i}.mp4", c) for c in "ab" for i in range(10)] + [Sample("c0.mp4", "c"),
                                                                                       Sample("c1.mp4", "c")],
                       ["a", "b", "c"])
    train, val = stratified_split(data, 0.2, seed=0)
    assert val.counts() == {"a": 2, "b": 2, "c": 1}
    assert train.counts() == {"a": 8, "b": 8, "c": 1}
    assert not {s.path for s in train.samples} & {s.path for s in val.samples}
    assert stratified_split(data, 0.2, seed=0)[1].samples == val.samples


def test_embedding_cache_reuses_by_content(tmp_path, repo_root, embedder):
    clip = tmp_path / "a.mp4"
    shutil.copy(repo_root / "sample_videos/static_street.mp4", clip)
    cache = EmbeddingCache(tmp_path / "cache")
    first = cache.get_or_compute(str(clip), embedder, sample_fps=2.0, max_frames=None)
    assert first.embeddings.shape == (8, 1280) and cache.misses == 1
    renamed = tmp_path / "b.mp4"
    clip.rename(renamed)  # same content under another name: a cache hit
    second = cache.get_or_compute(str(renamed), embedder, sample_fps=2.0, max_frames=None)
    assert cache.hits == 1
    np.testing.assert_array_equal(second.embeddings, first.embeddings)  # the run that filled it saw the same
    np.testing.assert_array_equal(second.timestamps_s, first.timestamps_s)
    cache.get_or_compute(str(renamed), embedder, sample_fps=3.0, max_frames=None)  # other sampling: a miss
    assert cache.misses == 2
    assert content_fingerprint(renamed) != content_fingerprint(repo_root / "sample_videos/zoom_in.mp4")


def test_sample_window_lengths_and_order():
    emb = np.arange(40, dtype=np.float32)[:, None].repeat(3, 1)  # (T, D), value = time index
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = sample_window(emb, 16, rng, speed_jitter=0.2)
        assert len(w) == 16 and np.all(np.diff(w[:, 0]) >= 0) and w[-1, 0] - w[0, 0] >= 10
    short = sample_window(emb[:5], 16, rng, speed_jitter=0.0)
    np.testing.assert_array_equal(short[:, 0], np.arange(5))
