"""The tracker core: association, the Kalman and GRU motion banks, and the Tracker's life cycle."""

from __future__ import annotations

import numpy as np
import pytest

from vidgru.track.association import assign, box_likelihood, iou_matrix
from vidgru.track.kalman import KalmanBank
from vidgru.track.tracker import Tracker, TrackerConfig, track_detections
from vidgru.types import Detections


def dets(boxes, scores=None, classes=None) -> Detections:
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    n = len(boxes)
    return Detections(boxes, np.full(n, 0.9) if scores is None else scores,
                      np.full(n, -1) if classes is None else classes, ("person", "car"))


def walker(x0, y0, vx, vy, t, w=40, h=100):
    return [x0 + vx * t, y0 + vy * t, x0 + vx * t + w, y0 + vy * t + h]


@pytest.mark.parametrize(("a", "b", "expected"), [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
    ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
], ids=["same", "half", "disjoint"])
def test_iou_matrix(a, b, expected):
    assert iou_matrix(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)
    assert iou_matrix(np.zeros((0, 4)), np.array([b])).shape == (0, 1)


def test_assign_respects_threshold_and_maximises_total():
    sim = np.array([[0.9, 0.8], [0.85, 0.1]])
    matches, rows, cols = assign(sim, 0.5)
    # Greedy would take (0, 0) and leave row 1 with 0.1; the optimum pairs (0, 1) and (1, 0).
    assert sorted(map(tuple, matches)) == [(0, 1), (1, 0)]
    matches, rows, cols = assign(np.array([[0.3]]), 0.5)
    assert len(matches) == 0 and list(rows) == [0] and list(cols) == [0]
    sim_copy = sim.copy()
    assign(sim, 0.5)
    np.testing.assert_array_equal(sim, sim_copy)


def test_box_likelihood_scores_fit_in_units_of_the_error_scale():
    from vidgru.track.association import box_likelihood

    pred = np.array([[100.0, 100.0, 140.0, 200.0]])  # 40 x 100
    boxes = np.array([[100.0, 100.0, 140.0, 200.0], [104.0, 100.0, 144.0, 200.0], [120.0, 100.0, 160.0, 200.0]])
    tight, loose = box_likelihood(pred, np.full((1, 4), 0.1), boxes), box_likelihood(pred, np.full((1, 4), 0.5), boxes)
    assert tight[0, 0] == pytest.approx(1.0)
    assert tight[0, 1] == pytest.approx(np.exp(-0.25 * 0.1 / 0.1))  # shifted by 0.1 box widths, scale 0.1
    assert tight[0, 1] > tight[0, 2] and loose[0, 2] > tight[0, 2]  # an uncertain prediction accepts more
    assert box_likelihood(pred, np.ones((1, 4)), np.zeros((0, 4))).shape == (1, 0)


def test_kalman_spread_grows_while_a_track_goes_unseen():
    bank = KalmanBank()
    bank.add(np.array([[0.0, 0.0, 40.0, 100.0]]), np.ones(1))
    spreads = []
    for t in range(6):
        bank.predict()
        spreads.append(bank.spread[0, 0])
        if t < 3:
            bank.update(np.array([0]), np.array([[0.0, 0.0, 40.0, 100.0]]), np.ones(1))
    assert spreads[3] < spreads[4] < spreads[5]  # 3 frames unseen
    assert 0.01 < spreads[2] < 0.2


def test_the_state_models_error_scale_decides_between_equally_overlapping_boxes():
    """Two detections overlap the predicted box equally; the one where the model expects the track (small
    shift along its error scale's tight axis) wins only when the likelihood is blended in."""

    class Fixed:  # a state model with one prediction and a fixed error scale
        predicted = np.array([[100.0, 100.0, 140.0, 200.0]])  # 40 x 100
        spread = np.array([[0.5, 0.02, 0.1, 0.1]])  # loose in x, tight in y

        def likelihood(self, rows, boxes, scores):
            return box_likelihood(self.predicted[rows], self.spread[rows], boxes)

        def __len__(self):
            return 1

        def keep(self, mask):
            pass

    # det 0: shifted 12 px down (0.12 heights, far outside the tight y scale); det 1: shifted 12 px right
    # (0.3 widths, within the loose x scale). Det 0 overlaps more (IoU 0.79 vs 0.54) and wins on IoU alone.
    boxes = np.array([[100.0, 112.0, 140.0, 212.0], [112.0, 100.0, 152.0, 200.0]])
    rows, cols, scores = np.array([0]), np.array([0, 1]), np.ones(2)
    sim = iou_matrix(Fixed.predicted, boxes)
    tracker = Tracker(motion=Fixed(), config=TrackerConfig(motion_weight=0.5))
    assert tracker._assign(sim, 0.2, rows, cols, boxes, scores).tolist() == [[0, 1]]
    blind = Tracker(motion=Fixed(), config=TrackerConfig(motion_weight=0.0))
    assert blind._assign(sim, 0.2, rows, cols, boxes, scores).tolist() == [[0, 0]]


def test_kalman_learns_constant_velocity():
    bank = KalmanBank()
    bank.add(np.array([walker(0, 0, 5, 2, 0)]), np.array([0.9]))
    for t in range(1, 15):
        bank.predict()
        bank.update(np.array([0]), np.array([walker(0, 0, 5, 2, t)]), np.array([0.9]))
    predicted = bank.predict()[0]
    np.testing.assert_allclose(predicted, walker(0, 0, 5, 2, 15), atol=1.0)


def crossing_scene(n=40, miss=()):
    """Two people walking towards each other on the same line (they overlap mid-way)."""
    out = []
    for t in range(n):
        boxes = [walker(0, 100, 8, 0, t), walker(320, 104, -8, 0, t)]
        if t in miss:
            boxes = boxes[:1]
        out.append(dets(boxes))
    return out


def test_ids_survive_a_crossing():
    frames = crossing_scene()
    results = track_detections(frames, [t / 10 for t in range(len(frames))], Tracker(motion=KalmanBank()))
    ids_left = {ft.tracks[i].track_id for ft in results for i in range(len(ft.tracks))
                if ft.tracks[i].xyxy[0] < 160 and ft.frame_index < 15}
    assert results[0].tracks and {t.track_id for t in results[0].tracks} == {1, 2}
    # Left walker keeps one ID from start to end.
    first = min(results[0].tracks, key=lambda t: t.xyxy[0]).track_id
    last = max(results[-1].tracks, key=lambda t: t.xyxy[0]).track_id
    assert first == last and ids_left == {first}
    assert all(len(ft.tracks) == 2 for ft in results)


def test_track_coasts_through_misses_and_keeps_id():
    frames = crossing_scene(n=30, miss=range(10, 14))
    results = track_detections(frames, [t / 10 for t in range(30)], Tracker(motion=KalmanBank()))
    right_ids = {t.track_id for ft in results for t in ft.tracks if t.xyxy[0] > 200 and ft.frame_index < 10}
    after = {t.track_id for ft in results[14:] for t in ft.tracks if t.xyxy[0] > 150 and ft.frame_index < 18}
    assert right_ids == after
    assert all(len(ft.tracks) == 1 for ft in results[10:14])  # not reported while unseen


@pytest.mark.parametrize("fps", [5, 30], ids=["5fps", "30fps"])
def test_max_lost_is_in_seconds(fps):
    """A track unseen for longer than max_lost_s gets a new ID when it comes back, at any frame rate."""
    tracker = Tracker(motion=KalmanBank(), config=TrackerConfig(max_lost_s=1.0))
    box = [100, 100, 140, 200]
    gap_s = 1.5
    times = [i / fps for i in range(5)] + [4 / fps + gap_s + i / fps for i in range(5)]
    out = [tracker.update(dets([box]), t) for t in times]
    assert out[0].tracks[0].track_id != out[-1].tracks[0].track_id
    tracker = Tracker(motion=KalmanBank(), config=TrackerConfig(max_lost_s=2.0))
    out = [tracker.update(dets([box]), t) for t in times]
    assert out[0].tracks[0].track_id == out[-1].tracks[0].track_id


def test_low_score_detections_extend_tracks_but_do_not_start_them():
    tracker = Tracker(motion=KalmanBank())
    out = [tracker.update(dets([walker(0, 0, 4, 0, t)], scores=[0.9 if t < 5 else 0.3]), t / 10) for t in range(10)]
    assert [len(o.tracks) for o in out] == [1] * 10
    assert len({o.tracks[0].track_id for o in out}) == 1
    tracker = Tracker(motion=KalmanBank())
    assert all(not tracker.update(dets([[0, 0, 40, 100]], scores=[0.3]), t / 10).tracks for t in range(5))


def test_tentative_tracks_need_min_hits_and_ids_are_per_instance():
    tracker = Tracker(motion=KalmanBank(), config=TrackerConfig(min_hits=3))
    tracker.update(dets([[0, 0, 10, 10]]), 0.0)  # first frame: confirmed at once
    out = [tracker.update(dets([[0, 0, 10, 10], [200, 200, 240, 300]]), t / 10) for t in range(1, 5)]
    assert [len(o.tracks) for o in out] == [1, 1, 2, 2]  # second object reported from its 3rd hit
    other = Tracker(motion=KalmanBank())
    assert other.update(dets([[0, 0, 10, 10]]), 0.0).tracks[0].track_id == 1
    tracker.reset()
    assert tracker.update(dets([[0, 0, 10, 10]]), 0.0).tracks[0].track_id == 1


def test_class_label_is_a_vote_and_does_not_flicker():
    tracker = Tracker(motion=KalmanBank())
    classes = [0, 0, 0, 1, 0, 0, 1, 0]
    out = [tracker.update(dets([[0, 0, 40, 100]], classes=[c]), t / 10) for t, c in enumerate(classes)]
    assert {o.tracks[0].class_name for o in out} == {"person"}


def test_appearance_reidentifies_a_lost_track_far_away():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 16))
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    tracker = Tracker(motion=KalmanBank(), config=TrackerConfig(max_lost_s=3.0))
    for t in range(5):  # two objects
        out = tracker.update(dets([[0, 0, 40, 100], [300, 0, 340, 100]]), t / 10, embeddings=np.stack([a, b]))
    id_a = min(out.tracks, key=lambda t: t.xyxy[0]).track_id
    for t in range(5, 10):  # object a hidden
        tracker.update(dets([[300, 0, 340, 100]]), t / 10, embeddings=b[None])
    # a reappears far from where it was lost, looking the same.
    out = tracker.update(dets([[300, 0, 340, 100], [150, 200, 190, 300]]), 1.0, embeddings=np.stack([b, a]))
    back = [t for t in out.tracks if t.xyxy[0] < 200]
    assert back and back[0].track_id == id_a


# ---------------------------------------------------------------------- the GRU state model
@pytest.fixture(scope="module")
def motion_sets(shared_data):
    from vidgru.train.motion import load_trajectories

    root = shared_data / "mot15" / "train"
    return [load_trajectories(root / name) for name in ("TUD-Campus", "KITTI-13")]


def test_training_sequences_with_and_without_detections(shared_data):
    from vidgru.train.motion import dataset_name, load_training_sequences, load_trajectories

    mot17 = shared_data / "mot17" / "train" / "MOT17-05"
    full, half = load_trajectories(mot17), load_trajectories(mot17, frames="first-half")
    assert full.has_detections and full.dataset == "train"
    assert sum(map(len, half.truth)) < 0.6 * sum(map(len, full.truth))  # frames 1 .. 418 of 837
    assert all(o.any() for o in half.observed[:5])  # real detections matched to the truth
    dance = sorted((shared_data / "dancetrack" / "train").iterdir())[0]
    gt_only = load_trajectories(dance, dataset="dance")
    assert not gt_only.has_detections and not any(o.any() for o in gt_only.observed)
    assert dataset_name(shared_data / "dancetrack" / "train") == "dancetrack-train" == dataset_name(dance)
    train, val = load_training_sequences([shared_data / "mot17" / "train"], val=["MOT17-0*"], first_half=["*"])
    assert [t.name for t in train] == ["MOT17-11"] and [t.name for t in val] == ["MOT17-02", "MOT17-05",
                                                                                  "MOT17-09"]


def test_simulated_detections_are_noisy_and_miss_some_boxes(shared_data):
    from vidgru.train.motion import MotionTrainConfig, load_trajectories, sample_windows

    dance = sorted((shared_data / "dancetrack" / "train").iterdir())[0]
    batch = sample_windows([load_trajectories(dance)], 256, MotionTrainConfig(window=30),
                           np.random.default_rng(0))
    seen = (batch.observed > 0) & (batch.valid > 0)
    assert 0.6 < seen.sum() / (batch.valid > 0).sum() < 0.99  # misses and occlusion runs
    t, o = batch.truth[seen], batch.obs[seen]
    rel = np.abs(o[:, 0] - t[:, 0]) / t[:, 2]
    assert 0.003 < np.median(rel) < 0.08  # noise in proportion to the box, not pixels
    assert np.percentile(rel, 99.5) > 4 * np.median(rel)  # and a heavy tail


def test_data_set_weights_balance_the_windows(motion_sets):
    from dataclasses import replace

    from vidgru.train.motion import MotionTrainConfig, _pick_weights

    a, b = (replace(s, dataset=name) for s, name in zip(motion_sets, ("a", "b")))
    items, probs = _pick_weights([a, b], MotionTrainConfig())
    share_a = probs[[i for i, (si, _) in enumerate(items) if si == 0]].sum()
    assert share_a == pytest.approx(0.5)
    items, probs = _pick_weights([a, b], MotionTrainConfig(dataset_weights=(("a", 3.0),)))
    assert probs[[i for i, (si, _) in enumerate(items) if si == 0]].sum() == pytest.approx(0.75)


@pytest.mark.parametrize("crowd", [False, True], ids=["alone", "with-crowding"])
def test_numpy_bank_runs_the_same_filter_as_training(motion_sets, crowd, monkeypatch):
    """The tracker's numpy GruBank and the PyTorch unroll used in training give the same boxes and error scales.
    (The unroll runs in float64 here: in float32, rounding of pixel differences grows through this random
    network's feedback to parts in 1,000 over 20 frames.)"""
    import torch

    from vidgru.track.boxes import cxcywh_to_xyxy
    from vidgru.track.gru_motion import GruBank, GruMotionConfig, MotionCheckpoint, build_net
    from vidgru.train.motion import MotionTrainConfig, sample_windows, unroll

    torch.manual_seed(0)
    cfg = GruMotionConfig(hidden_size=16, head_size=16, crowd=crowd)
    net = build_net(cfg)
    for p in net.parameters():  # away from the "plain Kalman" initialisation, so the test sees real dynamics
        p.data.normal_(0, 0.1)
    batch = sample_windows(motion_sets, 8, MotionTrainConfig(window=20), np.random.default_rng(1))
    batch.dt_s[:] = 0.1
    state_dict = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        smoothed, pred, log_scale = unroll(net.double(), batch, cfg, dtype=torch.float64)
    bank = GruBank(MotionCheckpoint(cfg, state_dict), dt_s=0.1)
    # Training reads the crowding of the true boxes; the tracker computes it from its own boxes. Here the bank is
    # handed the training values, so that the filter itself is compared.
    step = iter(range(20))
    monkeypatch.setattr(GruBank, "_crowd", staticmethod(lambda boxes, *_: batch.crowd[:, next(step)][-len(boxes):]))
    obs, observed, scores = batch.obs, batch.observed > 0, batch.scores
    bank.add(cxcywh_to_xyxy(obs[:, 0]), scores[:, 0])
    np.testing.assert_allclose(bank.pred, pred[:, 0].numpy(), rtol=1e-4, atol=1e-3)
    for t in range(1, 20):
        rows = np.flatnonzero(observed[:, t])
        bank.update(rows, cxcywh_to_xyxy(obs[rows, t]), scores[rows, t], 0.1)
        np.testing.assert_allclose(bank.smoothed, smoothed[:, t].numpy(), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(bank.pred, pred[:, t].numpy(), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(bank.log_scale, log_scale[:, t].numpy(), rtol=1e-4, atol=1e-4)


def test_crowding_is_each_tracks_largest_overlap_with_another():
    from vidgru.track.gru_motion import GruBank

    boxes = np.array([[50.0, 50, 20, 20], [60, 50, 20, 20], [500, 500, 10, 10]])  # cxcywh
    np.testing.assert_allclose(GruBank._crowd(boxes), [200 / 600, 200 / 600, 0.0])
    assert GruBank._crowd(np.zeros((0, 4))).shape == (0,)


def test_untrained_state_model_is_the_kalman_filter(shared_data):
    """The GRU's corrections start at zero: an untrained model tracks exactly like --motion kalman (with the
    association blind to the two models' error scales, which differ)."""
    from vidgru.detect import read_mot_detections
    from vidgru.track.gru_motion import GruBank, GruMotionConfig, MotionCheckpoint, build_net

    cfg = GruMotionConfig(hidden_size=16, head_size=16)
    blind = TrackerConfig(motion_weight=0.0)
    gru = Tracker(motion=GruBank(MotionCheckpoint(cfg, build_net(cfg).state_dict())), config=blind)
    kalman = Tracker(motion=KalmanBank(), config=blind)
    by_frame = read_mot_detections(shared_data / "mot15" / "train" / "TUD-Campus" / "det" / "det.txt")
    for i in range(71):
        d = by_frame.get(i, Detections.empty())
        a, b = gru.update(d, i / 25), kalman.update(d, i / 25)
        assert [t.track_id for t in a.tracks] == [t.track_id for t in b.tracks]
        np.testing.assert_allclose([t.xyxy for t in a.tracks], [t.xyxy for t in b.tracks], atol=1e-6)


def test_kalman_closed_form_equals_the_matrix_form():
    """KalmanBank keeps 2x2 covariance blocks; the textbook 8x8 filter gives the same estimates."""
    sp, sv = 1 / 20, 1 / 160
    F = np.eye(8)
    F[:4, 4:] = np.eye(4)
    H = np.eye(4, 8)
    rng = np.random.default_rng(0)
    z = np.cumsum(rng.normal(0, 2, (30, 4)), 0) + [300, 200, 50, 120]
    seen = rng.random(30) > 0.3
    x = np.r_[z[0], np.zeros(4)]
    P = np.diag(np.r_[[(2 * sp * z[0, 3]) ** 2] * 4, [(10 * sv * z[0, 3]) ** 2] * 4])
    bank = KalmanBank()
    bank.add(np.array([[z[0, 0] - z[0, 2] / 2, z[0, 1] - z[0, 3] / 2, z[0, 0] + z[0, 2] / 2,
                        z[0, 1] + z[0, 3] / 2]]), np.ones(1))
    for t in range(1, 30):
        Q = np.diag(np.r_[[(sp * x[3]) ** 2] * 4, [(sv * x[3]) ** 2] * 4])
        x, P = F @ x, F @ P @ F.T + Q
        bank.predict()
        if seen[t]:
            S = H @ P @ H.T + np.diag([(sp * x[3]) ** 2] * 4)
            K = P @ H.T @ np.linalg.inv(S)
            x, P = x + K @ (z[t] - H @ x), P - K @ H @ P
            box = np.array([[z[t, 0] - z[t, 2] / 2, z[t, 1] - z[t, 3] / 2, z[t, 0] + z[t, 2] / 2,
                             z[t, 1] + z[t, 3] / 2]])
            bank.update(np.array([0]), box, np.ones(1))
        np.testing.assert_allclose(bank.pos[0], x[:4], atol=1e-8)
        np.testing.assert_allclose(bank.vel[0], x[4:], atol=1e-8)


@pytest.mark.slow
def test_motion_training_learns_to_predict_on_a_held_out_sequence(shared_data):
    """An untrained model is the Kalman filter; a short training run on three DanceTrack sequences (ground truth
    alone, simulated detections) predicts a fourth one's boxes better than the filter does."""
    from vidgru.track.gru_motion import GruMotionConfig, build_net
    from vidgru.train.motion import (
        MotionTrainConfig,
        evaluate_motion_model,
        load_trajectories,
        train_motion_model,
    )

    dance = sorted(p for p in (shared_data / "dancetrack" / "train").iterdir() if p.is_dir())
    train, held = [load_trajectories(p) for p in dance[:3]], [load_trajectories(dance[3])]
    cfg = MotionTrainConfig(steps=300, batch_size=32, window=24)
    before = evaluate_motion_model(build_net(GruMotionConfig()), held, GruMotionConfig(), cfg, n=512)
    assert before["gru_predicted_iou"] == pytest.approx(before["kalman_predicted_iou"], abs=1e-4)
    _, after = train_motion_model(train, held, config=cfg)
    assert after["val_sequences"] == [dance[3].name] and after["train_sequences"] == [p.name for p in dance[:3]]
    assert after["gru_predicted_iou"] > after["kalman_predicted_iou"] + 0.01
    assert after["gru_predicted_iou_missed"] > after["kalman_predicted_iou_missed"]
    assert after["gru_smoothed_iou"] > after["kalman_smoothed_iou"] - 0.01
    # Both tell a track's own next detection from its nearest neighbour's most of the time (chance: 0.5).
    assert 0.75 < after["kalman_own_first"] <= 1 and 0.75 < after["gru_own_first"] <= 1


def test_own_first_ranks_a_tracks_own_detection_against_its_neighbours():
    """The association metric of train-motion: the own candidate must fit the prediction better than the
    neighbour's; a prediction sitting on the neighbour scores 0, a perfect one 1."""
    from vidgru.train.motion import TrainingWindows, _candidate_likelihood, _own_first

    batch = TrainingWindows.zeros(2, 3)
    own, other = [100.0, 100.0, 40.0, 100.0], [130.0, 100.0, 40.0, 100.0]
    batch.cand[:, :, 0], batch.cand[:, :, 1], batch.cand[:, :, 2] = own, other, own
    batch.cand_valid[:] = 1
    batch.cand_valid[1, :, 1] = 0  # no neighbour: not counted
    pred = np.broadcast_to(np.array(own), (2, 3, 4)).copy()
    spread = np.full((2, 3, 4), 0.1)
    assert _own_first(_candidate_likelihood(pred, spread, batch), batch) == 1.0
    pred[:] = other
    assert _own_first(_candidate_likelihood(pred, spread, batch), batch) == 0.0


def test_motion_checkpoint_round_trip_and_errors(tmp_path):
    import torch

    from vidgru.errors import CheckpointError
    from vidgru.track.gru_motion import (
        GruBank,
        GruMotionConfig,
        MotionCheckpoint,
        build_net,
        load_motion_checkpoint,
        save_motion_checkpoint,
    )

    cfg = GruMotionConfig(hidden_size=8, head_size=8)
    path = tmp_path / "m.pt"
    save_motion_checkpoint(path, MotionCheckpoint(cfg, build_net(cfg).state_dict(), {"note": "x"}))
    ckpt = load_motion_checkpoint(path)
    assert ckpt.config == cfg and ckpt.extra == {"note": "x"}
    assert len(GruBank(path)) == 0
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a vidgru motion model"):
        load_motion_checkpoint(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a vidgru checkpoint"):
        load_motion_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="no such file"):
        load_motion_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("motion", ["kalman", "gru"])
def test_coasting_between_detections_keeps_ids_and_moves_boxes(motion):
    """--detect-every N: frames without detections report the same tracks at predicted boxes."""
    from vidgru.track.gru_motion import GruBank

    bank = KalmanBank() if motion == "kalman" else GruBank()
    tracker = Tracker(motion=bank)
    outs = []
    for t in range(30):
        if t % 3 == 0:
            outs.append(tracker.update(dets([walker(0, 100, 6, 0, t), walker(400, 100, -6, 0, t)]), t / 10))
        else:
            outs.append(tracker.coast(t / 10))
    late = outs[12:]
    assert all(len(o.tracks) == 2 for o in late)
    assert all(tr.is_predicted for o in late[1::3] for tr in o.tracks)
    assert len({tr.track_id for o in late for tr in o.tracks}) == 2
    left = [min(o.tracks, key=lambda tr: tr.xyxy[0]).xyxy[0] for o in late]
    assert np.all(np.diff(left) > 0)  # the left walker keeps moving right, also on coasted frames


def test_public_api_names_resolve_lazily():
    import subprocess
    import sys

    code = ("import sys, vidgru; assert 'torch' not in sys.modules; "
            "[getattr(vidgru, n) for n in vidgru.__all__ if n != '__version__']; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
