"""Tracking by detection: the :class:`Tracker`.

Per frame: the state model predicts every live track's box and the error scale of that prediction; detections
are split by score; high-score detections are matched to tracks first (IoU with the predicted boxes blended with
how well each detection fits the prediction in units of the error scale, and fused with appearance when crops
are embedded), then low-score ones to the tracks still unmatched (ByteTrack's second stage), then remaining tracks
are tried against their last *observed* box (OC-SORT's observation-centric recovery, which helps after an
occlusion when the prediction has drifted), then tentative tracks. Unmatched high-score detections start new
tentative tracks; a track is confirmed after ``min_hits`` matches, lost when it goes unmatched and removed
``max_lost_s`` seconds after it was last seen. Lost tracks can be re-identified by appearance.

All tracks live in rows of numpy arrays (struct of arrays), and the motion model advances all of them in one
batched call per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from vidgru.track.association import assign, blend_motion, fuse_appearance, iou_matrix
from vidgru.types import Detections, FrameTracks, Track

TENTATIVE, CONFIRMED, LOST = 0, 1, 2


@dataclass(frozen=True)
class TrackerConfig:
    """Association and life-cycle settings. Times are in seconds so they mean the same at any frame rate."""

    high_threshold: float = 0.7  # detections at or above: first association stage, may start tracks
    low_threshold: float = 0.1  # detections between low and high: second stage only
    new_track_threshold: float = 0.8  # an unmatched detection starts a track only at or above this score
    match_iou: float = 0.2  # first stage: minimum (score-weighted) IoU with the predicted box
    motion_weight: float = 0.4  # share of the state model's likelihood (its own error scale) in the similarity
    low_match_iou: float = 0.5  # second stage
    recovery_iou: float = 0.3  # observation-centric recovery with the last observed box
    tentative_iou: float = 0.3  # tentative tracks
    min_hits: int = 3  # matches before a track is confirmed (and reported)
    max_lost_s: float = 1.5  # a track unseen this long is removed
    appearance_weight: float = 0.5  # share of appearance similarity in the fused cost, when embeddings are given
    appearance_gate: float = 0.35  # cosine distance above which appearance vetoes a pair
    reid_similarity: float = 0.8  # cosine similarity needed to re-identify a lost track far from its box
    feature_momentum: float = 0.9  # EMA of a track's appearance embedding


@runtime_checkable
class StateModel(Protocol):
    """A bank of per-track box states, one row per track, advanced together (``KalmanBank``, ``GruBank``).
    Boxes are (N, 4) float xyxy pixels; rows follow the tracker's track order."""

    def __len__(self) -> int: ...

    @property
    def boxes(self) -> np.ndarray:
        """(N, 4) smoothed boxes."""

    def predict(self) -> np.ndarray:
        """Advance every track one step; returns the (N, 4) predicted boxes."""

    def likelihood(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """(K, M) in (0, 1]: how well each detection (M, 4) xyxy with ``scores`` (M,) fits the current prediction
        of each track ``rows`` (K,), as the state model judges it (1: a perfect fit)."""

    def update(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray, dt_s: float | None = None) -> None:
        """Correct the tracks ``rows`` (K,) with their matched ``boxes`` (K, 4) and ``scores`` (K,); the others
        coast. ``dt_s``: seconds since the previous update."""

    def add(self, boxes: np.ndarray, scores: np.ndarray) -> None:
        """Start new rows at the end from (M, 4) boxes."""

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where ``mask`` (N,) is False."""


class Tracker:
    """Multi-object tracker. ``update(detections, timestamp_s)`` once per frame, in order; ``reset()`` before a
    new video. IDs start at 1 for each tracker instance.

    Args:
        motion: the state model bank (:class:`StateModel`: ``KalmanBank`` or ``GruBank``) holding the box
            state of every track.
        config: association and life-cycle settings.

    Example::

        tracker = Tracker(motion=KalmanBank())
        for frame, dets in zip(frames, detections):
            tracks = tracker.update(dets, frame.timestamp_s)
    """

    def __init__(self, *, motion: StateModel, config: TrackerConfig | None = None) -> None:
        self.motion = motion
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        """Forget all tracks and restart IDs at 1."""
        self.motion.keep(np.zeros(len(self.motion), dtype=bool))
        self._next_id = 1
        self.frames_seen = 0
        self._last_timestamp_s: float | None = None
        self.ids = np.zeros(0, dtype=np.int64)
        self.state = np.zeros(0, dtype=np.int8)
        self.hits = np.zeros(0, dtype=np.int64)
        self.born_s = np.zeros(0)
        self.last_seen_s = np.zeros(0)
        self.last_obs = np.zeros((0, 4))
        self.votes = np.zeros((0, 1))
        self.features: np.ndarray | None = None
        self._shown = np.zeros(0, dtype=bool)  # tracks reported by the last update (kept for coast())
        self._class_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)

    # ------------------------------------------------------------------ the one verb
    def update(self, detections: Detections, timestamp_s: float, *, embeddings: np.ndarray | None = None,
               frame_index: int | None = None) -> FrameTracks:
        """Advance one frame.

        Args:
            detections: this frame's detections (pixels xyxy).
            timestamp_s: the frame's time; life-cycle timing uses it.
            embeddings: optional (N, D) appearance embeddings of the detection crops, L2-normalised; rows of
                zeros for detections that were not embedded (only high-score ones are used for matching).
            frame_index: reported back in the result (defaults to a running count).

        Returns:
            The confirmed tracks matched in this frame, with smoothed boxes.
        """
        cfg = self.config
        index = self.frames_seen if frame_index is None else frame_index
        self.frames_seen += 1
        expired = (timestamp_s - self.last_seen_s) > cfg.max_lost_s + 1e-9
        if expired.any():  # unseen for too long (also after a gap in the stream): gone before matching
            self._keep(~expired)
        predicted = self.motion.predict()  # (T, 4)
        boxes, scores = detections.xyxy.astype(np.float64), detections.scores
        feats = None
        if embeddings is not None and len(detections):
            feats = np.asarray(embeddings, dtype=np.float32)
            if self.features is None:
                self.features = np.zeros((len(self.ids), feats.shape[1]), np.float32)

        n_tracks = len(self.ids)
        det_track = np.full(len(boxes), -1, dtype=np.int64)  # det -> matched track row
        track_matched = np.zeros(n_tracks, dtype=bool)
        high = (scores >= cfg.high_threshold).nonzero()[0]
        low = ((scores >= cfg.low_threshold) & (scores < cfg.high_threshold)).nonzero()[0]
        established = (self.state != TENTATIVE).nonzero()[0]

        # 1. established tracks (confirmed and lost) vs high-score detections, predicted boxes.
        if len(established) and len(high):
            iou = iou_matrix(predicted[established], boxes[high])
            sim = iou * scores[high][None, :]
            if feats is not None:
                sim = fuse_appearance(sim, iou, self.features[established], feats[high],
                                      weight=self.config.appearance_weight, gate=self.config.appearance_gate)
            m = self._assign(sim, cfg.match_iou, established, high, boxes, scores)
            self._record(m, established, high, det_track, track_matched)

        # 2. tracks still unmatched that were seen last frame vs low-score detections.
        if len(low):
            rows = established[~track_matched[established] & (self.state[established] == CONFIRMED)]
            if len(rows):
                m = self._assign(iou_matrix(predicted[rows], boxes[low]), cfg.low_match_iou, rows, low, boxes,
                                 scores)
                self._record(m, rows, low, det_track, track_matched)

        # 3. observation-centric recovery: last observed box vs the remaining high-score detections.
        free_high = high[det_track[high] < 0]
        if len(free_high):
            rows = established[~track_matched[established]]
            if len(rows):
                m, _, _ = assign(iou_matrix(self.last_obs[rows], boxes[free_high]), cfg.recovery_iou)
                self._record(m, rows, free_high, det_track, track_matched)

        # 4. tentative tracks vs the remaining high-score detections.
        free_high = high[det_track[high] < 0]
        tentative = (self.state == TENTATIVE).nonzero()[0]
        if len(free_high) and len(tentative):
            m = self._assign(iou_matrix(predicted[tentative], boxes[free_high]), cfg.tentative_iou, tentative,
                             free_high, boxes, scores)
            self._record(m, tentative, free_high, det_track, track_matched)

        # 5. re-identification of lost tracks by appearance alone (objects that reappear elsewhere).
        free_high = high[det_track[high] < 0]
        if feats is not None and len(free_high):
            rows = ((self.state == LOST) & ~track_matched).nonzero()[0]
            if len(rows):
                sim = self.features[rows] @ feats[free_high].T
                m, _, _ = assign(sim, cfg.reid_similarity)
                self._record(m, rows, free_high, det_track, track_matched)

        # State updates for matched tracks.
        matched_dets = (det_track >= 0).nonzero()[0]
        rows = det_track[matched_dets]
        dt_s = None if self._last_timestamp_s is None else timestamp_s - self._last_timestamp_s
        self._last_timestamp_s = timestamp_s
        self.motion.update(rows, boxes[matched_dets], scores[matched_dets], dt_s)
        self.hits[rows] += 1
        self.last_seen_s[rows] = timestamp_s
        self.last_obs[rows] = boxes[matched_dets]
        self._vote(rows, detections.class_ids[matched_dets], scores[matched_dets])
        if feats is not None:
            has = np.any(feats[matched_dets] != 0, axis=1)  # detections that were not embedded have zeros
            r, new = rows[has], feats[matched_dets[has]]
            fresh = ~np.any(self.features[r] != 0, axis=1)
            ema = np.where(fresh[:, None], new, cfg.feature_momentum * self.features[r]
                           + (1 - cfg.feature_momentum) * new)
            self.features[r] = ema / np.maximum(np.linalg.norm(ema, axis=1, keepdims=True), 1e-9)
        promote = (self.state[rows] == TENTATIVE) & (self.hits[rows] >= cfg.min_hits)
        self.state[rows[promote]] = CONFIRMED
        self.state[rows[self.state[rows] == LOST]] = CONFIRMED

        # Unmatched tracks: tentative ones die, confirmed ones become lost, long-lost ones are removed.
        unmatched = ~track_matched
        alive = np.ones(n_tracks, dtype=bool)
        alive[unmatched & (self.state == TENTATIVE)] = False
        self.state[unmatched & (self.state == CONFIRMED)] = LOST
        alive &= (timestamp_s - self.last_seen_s) <= cfg.max_lost_s + 1e-9

        seen_now = track_matched.copy()
        det_score = np.zeros(n_tracks)
        det_score[rows] = scores[matched_dets]
        if not alive.all():
            self._keep(alive)
            seen_now, det_score = seen_now[alive], det_score[alive]
        # New tentative tracks from unmatched confident detections. Tracks that appear in the first frame of
        # a video are confirmed at once: there is no history to wait for.
        new = ((det_track < 0) & (scores >= cfg.new_track_threshold)).nonzero()[0]
        if len(new):
            self._spawn(boxes[new], scores[new], detections.class_ids[new], timestamp_s,
                        None if feats is None else feats[new], confirm=self.frames_seen <= 1)
            seen_now = np.concatenate([seen_now, np.ones(len(new), bool)])
            det_score = np.concatenate([det_score, scores[new]])
        reported = (seen_now & (self.state == CONFIRMED)).nonzero()[0]
        self._shown = seen_now & (self.state == CONFIRMED)
        self._class_names = detections.class_names
        return self._report(reported, timestamp_s, index, det_score, detections.class_names)

    def coast(self, timestamp_s: float, *, frame_index: int | None = None) -> FrameTracks:
        """Advance a frame that has no detections (``--detect-every N``): every track moves by its motion model,
        nothing is matched, born or removed, and the tracks reported at the last update are reported again at
        their predicted boxes (``is_predicted=True``)."""
        index = self.frames_seen if frame_index is None else frame_index
        self.frames_seen += 1
        self.motion.predict()
        dt_s = None if self._last_timestamp_s is None else timestamp_s - self._last_timestamp_s
        self._last_timestamp_s = timestamp_s
        empty = np.zeros(0, dtype=np.int64)
        self.motion.update(empty, np.zeros((0, 4)), np.zeros(0), dt_s)
        out = self._report(self._shown.nonzero()[0], timestamp_s, index, np.zeros(len(self.ids)),
                           self._class_names)
        for track in out.tracks:
            track.is_predicted = True
        return out

    # ------------------------------------------------------------------ helpers
    def _assign(self, sim: np.ndarray, threshold: float, rows: np.ndarray, cols: np.ndarray, boxes: np.ndarray,
                scores: np.ndarray) -> np.ndarray:
        """Match track ``rows`` to detections ``cols`` on a blend of ``sim`` (IoU-based) and how likely each
        detection is under the state model's prediction (``StateModel.likelihood``, share ``motion_weight``);
        pairs that do not overlap stay at 0, and a pair must reach ``threshold`` in the blend. The likelihood is
        what sets a well-placed box apart from an equally overlapping one the track would have to jump to.
        Returns matches (K, 2) of indices into rows, cols."""
        w = self.config.motion_weight
        if w <= 0 or sim.size == 0:
            return assign(sim, threshold)[0]
        like = self.motion.likelihood(rows, boxes[cols], scores[cols])
        return assign(blend_motion(sim, like, w), threshold)[0]

    @staticmethod
    def _record(matches: np.ndarray, rows: np.ndarray, cols: np.ndarray, det_track: np.ndarray,
                track_matched: np.ndarray) -> None:
        if len(matches):
            r = rows[matches[:, 0]]
            det_track[cols[matches[:, 1]]] = r
            track_matched[r] = True

    def _vote(self, rows: np.ndarray, class_ids: np.ndarray, scores: np.ndarray) -> None:
        known = class_ids >= 0
        if not known.any():
            return
        need = int(class_ids.max()) + 1
        if need > self.votes.shape[1]:
            self.votes = np.pad(self.votes, ((0, 0), (0, need - self.votes.shape[1])))
        np.add.at(self.votes, (rows[known], class_ids[known]), scores[known])

    def _report(self, rows: np.ndarray, timestamp_s: float, index: int, score_of: np.ndarray,
                class_names: tuple[str, ...]) -> FrameTracks:
        if len(rows) == 0:
            return FrameTracks(index, timestamp_s, [])
        smoothed = self.motion.boxes[rows]
        has_votes = self.votes[rows].sum(1) > 0
        class_ids = np.where(has_votes, self.votes[rows].argmax(1), -1)
        names = [class_names[c] if 0 <= c < len(class_names) else "" for c in class_ids.tolist()]
        ages = (timestamp_s - self.born_s[rows]).tolist()
        tracks = [
            Track(track_id, tuple(box), score, class_id, name, age)
            for track_id, box, score, class_id, name, age in zip(
                self.ids[rows].tolist(), smoothed.tolist(), score_of[rows].tolist(), class_ids.tolist(), names, ages)
        ]
        return FrameTracks(index, timestamp_s, tracks)

    def _keep(self, alive: np.ndarray) -> None:
        self.motion.keep(alive)
        self.ids, self.state, self.hits = self.ids[alive], self.state[alive], self.hits[alive]
        self.born_s, self.last_seen_s = self.born_s[alive], self.last_seen_s[alive]
        self.last_obs, self.votes = self.last_obs[alive], self.votes[alive]
        if self.features is not None:
            self.features = self.features[alive]
        self._shown = self._shown[alive]

    def _spawn(self, boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, timestamp_s: float,
               feats: np.ndarray | None, *, confirm: bool) -> None:
        k = len(boxes)
        self.motion.add(boxes, scores)
        self.ids = np.concatenate([self.ids, np.arange(self._next_id, self._next_id + k)])
        self._next_id += k
        self.state = np.concatenate([self.state, np.full(k, CONFIRMED if confirm else TENTATIVE, np.int8)])
        self.hits = np.concatenate([self.hits, np.ones(k, np.int64)])
        self.born_s = np.concatenate([self.born_s, np.full(k, timestamp_s)])
        self.last_seen_s = np.concatenate([self.last_seen_s, np.full(k, timestamp_s)])
        self.last_obs = np.concatenate([self.last_obs, boxes])
        self.votes = np.concatenate([self.votes, np.zeros((k, self.votes.shape[1]))])
        self._vote(np.arange(len(self.ids) - k, len(self.ids)), class_ids, scores)
        if feats is not None:
            self.features = np.concatenate([self.features, feats]) if self.features is not None else feats.copy()
        elif self.features is not None:
            self.features = np.concatenate([self.features, np.zeros((k, self.features.shape[1]), np.float32)])


def track_detections(detections: Sequence[Detections], timestamps_s: Sequence[float], tracker: Tracker
                     ) -> list[FrameTracks]:
    """Run ``tracker`` over detections already in memory (one per frame) -> one FrameTracks per frame."""
    tracker.reset()
    return [tracker.update(d, t, frame_index=i) for i, (d, t) in enumerate(zip(detections, timestamps_s))]
