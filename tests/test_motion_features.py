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


# ------------------------------------------------------------------------------------- global motion (flow)


def _photo_crop(size=224):
    import skimage.data

    img = skimage.data.astronaut()  # 512 x 512 RGB photo
    return np.ascontiguousarray(img[100 : 100 + size, 150 : 150 + size])


def _warp(crop, scale=1.0, dx=0.0, dy=0.0, angle_deg=0.0):
    """Content scaled/rotated about the centre and moved by (dx, dy) pixels."""
    import cv2

    h, w = crop.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle_deg, scale)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(crop, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _close(got, expected, atol):
    """Element-wise |got - expected| <= atol (atol per element)."""
    got, expected = np.asarray(got, float), np.asarray(expected, float)
    assert np.all(np.abs(got - expected) <= np.asarray(atol)), (got, expected)


def _decoded(desc):
    """Back from the compressed descriptors to (shift_x, shift_y, log zoom, rotation) and the shares."""
    from vidgru.motion_features import FLOW_GAIN

    raw = np.expm1(desc[:8]) / FLOW_GAIN
    return raw[0::2] - raw[1::2], desc[8], desc[9]


@pytest.mark.parametrize(("kw", "expected"), [
    ({}, (0, 0, 0, 0)),
    ({"dx": 5.0, "dy": -3.0}, (5 / 224, -3 / 224, 0, 0)),
    ({"dx": 0.4}, (0.4 / 224, 0, 0, 0)),  # sub-pixel: far below one cell of a 7x7 feature map
    ({"scale": 1.01}, (0, 0, np.log(1.01), 0)),  # a slow zoom
    ({"scale": 1 / 1.05}, (0, 0, -np.log(1.05), 0)),
    ({"angle_deg": 2.0}, (0, 0, 0, -np.deg2rad(2.0))),  # OpenCV's positive angle turns counter-clockwise
], ids=["still", "shift", "subpixel", "zoom-in", "zoom-out", "rotation"])
def test_global_motion_recovers_the_warp(kw, expected):
    import cv2

    from vidgru.motion_features import global_motion

    prev = cv2.cvtColor(_photo_crop(), cv2.COLOR_RGB2GRAY)
    cur = _warp(prev, **kw)
    signed, fit_share, tracked_share = _decoded(global_motion(prev, cur))
    _close(signed, expected, [0.1 / 224, 0.1 / 224, 0.002, 0.002])
    assert fit_share > 0.9 and tracked_share > 0.5


def test_global_motion_follows_the_background_not_a_moving_object():
    """A patch moving through a still scene (people walking under a still camera) is not camera motion."""
    import cv2

    from vidgru.motion_features import global_motion

    prev = cv2.cvtColor(_photo_crop(), cv2.COLOR_RGB2GRAY)
    cur = prev.copy()
    cur[80:140, 60:120] = prev[80:140, 48:108]  # a 60 px block moved right by 12 px
    signed, fit_share, _ = _decoded(global_motion(prev, cur))
    np.testing.assert_allclose(signed, 0, atol=0.05 / 224)
    assert 0.5 < fit_share < 1.0


def test_global_motion_of_a_blank_frame_is_no_motion_and_says_so():
    from vidgru.motion_features import global_motion

    blank = np.full((224, 224), 128, np.uint8)
    d = global_motion(blank, blank)
    assert not d.any()  # no corners: shares 0, motion 0


def test_flow_stream_in_chunks_equals_one_batch_and_needs_crops():
    spec = MotionSpec(gaps=(1, 2), flow=True)
    g = torch.Generator().manual_seed(2)
    maps = torch.randn(6, 8, 7, 7, generator=g)
    base = _photo_crop()
    crops = np.stack([_warp(base, dx=3.0 * i, scale=1.01 ** i) for i in range(6)])
    whole = MotionStream(spec).update(maps, crops)
    stream = MotionStream(spec)
    parts = torch.cat([stream.update(maps[:2], crops[:2]), stream.update(maps[2:], crops[2:])])
    torch.testing.assert_close(parts, whole)
    assert whole.shape == (6, spec.dim) == (6, 2 * (45 + 4 + 11))
    signed, _, _ = _decoded(whole[3, 60 + 49 :].numpy())  # frame 3 against frame 1 (gap 2)
    _close(signed, (6 / 224, 0, 2 * np.log(1.01), 0), [0.3 / 224, 0.3 / 224, 0.002, 0.002])
    with pytest.raises(ConfigError, match="crops"):
        MotionStream(spec).update(maps)


@pytest.mark.parametrize(("flip_x", "flip_y", "reverse"), [(True, False, False), (False, True, False),
                                                           (True, True, False), (False, False, True)],
                         ids=["lr", "tb", "both", "reversed"])
def test_flow_permutation_equals_descriptors_of_mirrored_or_reversed_frames(flip_x, flip_y, reverse):
    import cv2

    from vidgru.motion_features import descriptor_permutation, global_motion

    spec = MotionSpec(gaps=(1,), scales=(), quadrants=False, flow=True)
    perm = descriptor_permutation(spec, flip_x=flip_x, flip_y=flip_y, reverse=reverse)
    flow_perm = [p - 9 for p in perm[9:]]
    prev = cv2.cvtColor(_photo_crop(), cv2.COLOR_RGB2GRAY)
    cur = _warp(prev, scale=1.03, dx=4.0, dy=-2.0, angle_deg=1.0)
    d = global_motion(prev, cur)
    if reverse:
        other = global_motion(cur, prev)
    else:
        axes = [a for a, on in ((1, flip_x), (0, flip_y)) if on]
        other = global_motion(np.ascontiguousarray(np.flip(prev, axes)), np.ascontiguousarray(np.flip(cur, axes)))
    _close(_decoded(other)[0], _decoded(d[flow_perm])[0], [0.2 / 224, 0.2 / 224, 0.002, 0.002])


def test_spec_identity_without_flow_is_unchanged_and_newer_flow_is_refused():
    old = {"gaps": [1, 2, 4], "scales": [0.9, 0.95, 1 / 0.95, 1 / 0.9], "quadrants": True, "version": 1}
    assert MotionSpec.from_dict(old).to_dict() == old  # caches and checkpoints from before flow keep their key
    assert MotionSpec.from_dict({**old, "flow": 1}).flow
    with pytest.raises(ConfigError, match="newer"):
        MotionSpec.from_dict({**old, "flow": 99})


def test_embedder_with_flow_sees_the_pan_and_mixed_batches_agree(repo_root):
    from vidgru.video import read_frames

    emb = TorchEmbedder("mobilenet_v2", device="cpu", motion=MotionSpec(gaps=(1,), flow=True))
    assert emb.embed_dim == 1280 + 60 and emb.identity["motion"]["flow"] == 1
    frames = [f.image for f in read_frames(repo_root / "sample_videos/pan_left_then_static.mp4", every_n=5)]
    pan, still = frames[:10], frames[14:24]  # within the 4 s pan left, then within the static half
    out = emb.embed(pan)
    shift_x = np.array([_decoded(row)[0][0] for row in out[1:, 1280 + 49 :]])
    assert (shift_x > 1 / 224).all()  # a pan left: content moves right, by pixels per sampled frame
    still_x = np.array([_decoded(row)[0][0] for row in emb.embed(still)[1:, 1280 + 49 :]])
    assert (np.abs(still_x) < 0.3 / 224).all()
    crops = emb.preprocess.batch(pan)
    s = emb.new_stream()
    mixed = emb.embed_mixed([(crops[:4], s), (emb.preprocess.batch(still), emb.new_stream()), (crops[4:], s)])
    np.testing.assert_allclose(np.concatenate([mixed[0], mixed[2]]), out, atol=1e-4)


def test_global_motion_stream_equals_pairwise_calls():
    """The stream finds each frame's corners once; the rows equal global_motion on each pair, gap-major."""
    import cv2

    from vidgru.motion_features import GlobalMotionStream, global_motion

    base = _photo_crop()
    crops = np.stack([_warp(base, dx=2.0 * i, scale=1.01**i) for i in range(7)])
    grays = [cv2.cvtColor(c, cv2.COLOR_RGB2GRAY) for c in crops]
    stream = GlobalMotionStream((1, 3))
    rows = np.concatenate([stream.update(crops[:2]), stream.update(crops[2:])])
    for t in range(7):
        for g_idx, gap in enumerate((1, 3)):
            np.testing.assert_array_equal(rows[t, g_idx * 11 : (g_idx + 1) * 11],
                                          global_motion(grays[max(t - gap, 0)], grays[t]))


# ------------------------------------------------------- the fast descriptors against their plain definitions


def _reference_scale_correlations(cur, prev, scales):
    """The definition of the scale correlations as first written: resample prev about the centre with
    ``grid_sample``, renormalise its cells, mean cosine with cur."""
    import torch.nn.functional as F

    n = cur.shape[0]
    out = []
    for s in scales:
        theta = cur.new_tensor([[s, 0.0, 0.0], [0.0, s, 0.0]]).expand(n, 2, 3)
        grid = F.affine_grid(theta, list(prev.shape), align_corners=False)
        warped = F.normalize(F.grid_sample(prev, grid, align_corners=False, padding_mode="border"), dim=1)
        out.append((cur * warped).sum(dim=1).mean(dim=(-1, -2)))
    return torch.stack(out, dim=-1)


def _reference_stream(maps, spec):
    """Descriptors of a whole sequence from the definitions: every pair's shift correlations region by region
    and its scale correlations by resampling, the oldest frame standing in before the first gap."""
    cur = torch.nn.functional.normalize(maps.float(), dim=1)
    h, w = cur.shape[-2:]
    hh, hw = (h + 2) // 2, (w + 2) // 2
    rows = []
    for gap in spec.gaps:
        prev = cur[(torch.arange(len(cur)) - gap).clamp(min=0)]
        parts = [_reference_shift_correlations(cur, prev)]
        for ys in (slice(0, hh), slice(h - hh, h)):
            for xs in (slice(0, hw), slice(w - hw, w)):
                parts.append(_reference_shift_correlations(cur[..., ys, xs], prev[..., ys, xs]))
        parts.append(_reference_scale_correlations(cur, prev, spec.scales))
        rows.append(torch.cat(parts, dim=-1))
    return torch.cat(rows, dim=-1)


@pytest.mark.parametrize("size", [(7, 7), (5, 8)])
def test_scale_correlations_equal_resampling_with_grid_sample(size):
    g = torch.Generator().manual_seed(8)
    cur = torch.nn.functional.normalize(torch.randn(4, 16, *size, generator=g), dim=1)
    prev = torch.nn.functional.normalize(torch.randn(4, 16, *size, generator=g), dim=1)
    spec = MotionSpec(gaps=(1,), scales=(0.8, 0.9, 0.95, 1 / 0.95, 1 / 0.9, 1.3), quadrants=False)
    got = pair_descriptors(cur, prev, spec)[:, 9:]
    torch.testing.assert_close(got, _reference_scale_correlations(cur, prev, spec.scales), atol=1e-5, rtol=1e-5)


def test_descriptors_of_real_frames_equal_the_definitions(shared_data, embedder):
    """MobileNetV2 maps of real footage (vtest.avi), fed in uneven chunks as numpy and as torch: the same
    descriptors as the plain per-pair definitions (within float rounding)."""
    from vidgru.video import read_frames

    frames = [f.image for f in read_frames(shared_data / "opencv_samples/samples/data/vtest.avi", every_n=3,
                                           max_frames=24)]
    with torch.inference_mode():
        maps = embedder.trunk(embedder._to_input(frames))  # (24, 1280, 7, 7)
    spec = MotionSpec()
    expected = _reference_stream(maps, spec)
    stream = MotionStream(spec)
    got = np.concatenate([stream.update(maps[:5].numpy()), stream.update(maps[5:6].numpy()),
                          stream.update(maps[6:].numpy())])
    np.testing.assert_allclose(got, expected.numpy(), atol=2e-5, rtol=0)
    torch.testing.assert_close(MotionStream(spec).update(maps), expected, atol=2e-5, rtol=0)


def test_global_motion_in_threads_equals_one_thread():
    from vidgru.motion_features import GlobalMotionStream

    base = _photo_crop()
    crops = np.stack([_warp(base, dx=1.5 * i, scale=1.005**i, angle_deg=0.2 * i) for i in range(9)])
    one = GlobalMotionStream((1, 2, 4))
    many = GlobalMotionStream((1, 2, 4), workers=3)
    a = np.concatenate([one.update(crops[:4]), one.update(crops[4:])])
    b = np.concatenate([many.update(crops[:4]), many.update(crops[4:])])
    np.testing.assert_array_equal(a, b)


def test_the_device_path_equals_the_numpy_path():
    """Maps on a GPU stay there (torch ops); the same code run on CPU tensors gives the numpy path's rows."""
    spec = MotionSpec(flow=True)
    maps = torch.randn(9, 16, 7, 7, generator=torch.Generator().manual_seed(4))
    flow = np.random.default_rng(0).random((9, 3 * 11)).astype(np.float32)
    host = MotionStream(spec)
    expected = np.concatenate([host.update(maps[:4].numpy(), flow=flow[:4]), host.update(maps[4:].numpy(),
                                                                                         flow=flow[4:])])
    device = MotionStream(spec)  # update_rows on tensors is what update() runs for maps on an accelerator
    got = torch.cat([device.update_rows(maps[:4], torch.from_numpy(flow[:4])),
                     device.update_rows(maps[4:], torch.from_numpy(flow[4:]))])
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)
