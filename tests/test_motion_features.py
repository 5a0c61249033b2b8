"""Frame-pair motion descriptors: they see the direction of motion, and streaming equals one batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidgru.backbone import TorchEmbedder
from vidgru.errors import ConfigError
from vidgru.motion_features import MotionSpec, MotionStream, pair_descriptors


def _textured_map(c=16, h=7, w=7, seed=0):
    return torch.randn(1, c, h + 4, w + 4, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("dx", "dy", "best"), [(1, 0, 5), (-1, 0, 3), (0, 1, 7), (0, -1, 1), (0, 0, 4)],
                         ids=["right", "left", "down", "up", "still"])
def test_shift_correlation_peaks_at_the_true_displacement(dx, dy, best):
    big = torch.nn.functional.normalize(_textured_map(), dim=1)
    prev = big[..., 2:9, 2:9]
    cur = big[..., 2 - dy : 9 - dy, 2 - dx : 9 - dx]  # content moved by (dx, dy) cells
    d = pair_descriptors(cur, prev, MotionSpec(gaps=(1,), scales=(), quadrants=False))
    assert int(d[0].argmax()) == best  # index = (dy + 1) * 3 + (dx + 1)


def test_stream_in_chunks_equals_one_batch():
    spec = MotionSpec()
    maps = torch.randn(10, 8, 7, 7, generator=torch.Generator().manual_seed(1))
    whole = MotionStream(spec).update(maps)
    stream = MotionStream(spec)
    parts = torch.cat([stream.update(maps[:3]), stream.update(maps[3:4]), stream.update(maps[4:])])
    torch.testing.assert_close(parts, whole)
    assert whole.shape == (10, spec.dim) == (10, 3 * (45 + 4))


def test_embedder_appends_motion_and_sees_pan_direction(repo_root):
    from vidgru.video import read_frames

    emb = TorchEmbedder("mobilenet_v2", device="cpu", motion=MotionSpec(gaps=(1,), scales=(), quadrants=False))
    assert emb.embed_dim == 1280 + 9 and emb.identity["motion"]["gaps"] == [1]
    # The first 4 s of this sample pan left: scene content moves right across the frame.
    frames = [f.image for f in read_frames(repo_root / "sample_videos/pan_left_then_static.mp4", every_n=5)]
    out = emb.embed(frames[:12])  # frames 0..55: all within the pan
    motion = out[1:, 1280:]  # (T-1, 9) shift correlations, index = (dy + 1) * 3 + (dx + 1)
    right, left = motion[:, 5].mean(), motion[:, 3].mean()
    assert right > left, (right, left)
    still = emb.embed(frames[13:])  # the static second half
    assert abs(still[1:, 1280 + 5].mean() - still[1:, 1280 + 3].mean()) < abs(right - left)
    np.testing.assert_allclose(out[:, :1280], emb.embed(frames[:12])[:, :1280], atol=1e-5)


def _reference_shift_correlations(cur, prev):
    """The definition, written plainly: mean cosine of cur cells with prev cells displaced by (dy, dx)."""
    h, w = cur.shape[-2:]
    out = []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            a = cur[..., max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)]
            b = prev[..., max(0, -dy) : h + min(0, -dy), max(0, -dx) : w + min(0, -dx)]
            out.append((a * b).sum(dim=1).mean(dim=(-1, -2)))
    return torch.stack(out, dim=-1)


@pytest.mark.parametrize("size", [(7, 7), (5, 8)])
def test_fast_shift_correlations_equal_the_plain_definition(size):
    h, w = size
    g = torch.Generator().manual_seed(3)
    cur = torch.nn.functional.normalize(torch.randn(4, 16, h, w, generator=g), dim=1)
    prev = torch.nn.functional.normalize(torch.randn(4, 16, h, w, generator=g), dim=1)
    hh, hw = (h + 2) // 2, (w + 2) // 2
    expected = [_reference_shift_correlations(cur, prev)]
    for ys in (slice(0, hh), slice(h - hh, h)):
        for xs in (slice(0, hw), slice(w - hw, w)):
            expected.append(_reference_shift_correlations(cur[..., ys, xs], prev[..., ys, xs]))
    got = pair_descriptors(cur, prev, MotionSpec(gaps=(1,), scales=(), quadrants=True))
    torch.testing.assert_close(got, torch.cat(expected, dim=-1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("flip_x", "flip_y", "dims"), [(True, False, (-1,)), (False, True, (-2,)),
                                                         (True, True, (-2, -1))], ids=["lr", "tb", "both"])
def test_descriptor_permutation_equals_descriptors_of_mirrored_maps(flip_x, flip_y, dims):
    from vidgru.motion_features import descriptor_permutation

    g = torch.Generator().manual_seed(5)
    cur = torch.nn.functional.normalize(torch.randn(3, 16, 7, 7, generator=g), dim=1)
    prev = torch.nn.functional.normalize(torch.randn(3, 16, 7, 7, generator=g), dim=1)
    spec = MotionSpec(gaps=(1,))
    perm = descriptor_permutation(spec, flip_x=flip_x, flip_y=flip_y)
    mirrored = pair_descriptors(cur.flip(dims), prev.flip(dims), spec)
    torch.testing.assert_close(mirrored, pair_descriptors(cur, prev, spec)[:, perm], atol=1e-5, rtol=1e-5)
    assert [perm[i] for i in perm] == list(range(spec.dim // len(spec.gaps)))  # mirroring twice: identity


def test_descriptor_permutation_of_a_reversed_pair():
    from vidgru.motion_features import descriptor_permutation

    g = torch.Generator().manual_seed(6)
    cur = torch.nn.functional.normalize(torch.randn(3, 16, 7, 7, generator=g), dim=1)
    prev = torch.nn.functional.normalize(torch.randn(3, 16, 7, 7, generator=g), dim=1)
    spec = MotionSpec(gaps=(1,))
    perm = descriptor_permutation(spec, reverse=True)
    shifts = 45  # 5 regions x 9 displacements; the 4 scale correlations follow, reversed only approximately
    backwards = pair_descriptors(prev, cur, spec)
    torch.testing.assert_close(backwards[:, :shifts], pair_descriptors(cur, prev, spec)[:, perm][:, :shifts])
    assert perm[shifts:] == [48, 47, 46, 45]
    with pytest.raises(ConfigError, match="not in pairs"):
        descriptor_permutation(MotionSpec(scales=(0.9, 0.95)), reverse=True)
