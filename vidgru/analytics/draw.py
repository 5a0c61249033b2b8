"""Lines, zones and running counts drawn on frames (the ``--out-video`` and live-window overlays)."""

from __future__ import annotations

import numpy as np

LINE_COLOUR = (255, 215, 0)  # RGB
ZONE_COLOUR = (0, 200, 255)


def draw_analytics(image: np.ndarray, analytics, *, in_place: bool = False) -> np.ndarray:
    """``image`` (H, W, 3) uint8 RGB with ``analytics``' lines (an arrow pointing to the ``in`` side, the name
    and the in/out counts so far) and zones (outlined, lightly filled, name and occupancy) drawn on it; a copy
    unless ``in_place``."""
    import cv2

    out = image if in_place else image.copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 360))
    scale = max(0.4, min(h, w) / 1200)
    if analytics.zones:
        fill = out.copy()
        for zone in analytics.zones:
            pts = np.round(np.asarray(zone.points)).astype(np.int32).reshape(-1, 1, 2)
            cv2.fillPoly(fill, [pts], ZONE_COLOUR)
        cv2.addWeighted(fill, 0.2, out, 0.8, 0, dst=out)
    for zone, inside in zip(analytics.zones, analytics.occupancy, strict=True):
        pts = np.round(np.asarray(zone.points)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], True, ZONE_COLOUR, thick, cv2.LINE_AA)
        x, y = (int(v) for v in np.asarray(zone.points).min(axis=0))
        _text(out, f"{zone.name}: {inside}", (x + 4, y + 4), scale, ZONE_COLOUR)
    for line, (_, n_in, n_out) in zip(analytics.lines, analytics.counts(), strict=True):
        p1 = tuple(int(round(v)) for v in line.p1)
        p2 = tuple(int(round(v)) for v in line.p2)
        cv2.line(out, p1, p2, LINE_COLOUR, thick + 1, cv2.LINE_AA)
        mx, my = (line.p1[0] + line.p2[0]) / 2, (line.p1[1] + line.p2[1]) / 2
        dx, dy = (line.p2[0] - line.p1[0]) / line.length, (line.p2[1] - line.p1[1]) / line.length
        tip = (int(round(mx - dy * 25 * scale)), int(round(my + dx * 25 * scale)))  # towards the "in" side
        cv2.arrowedLine(out, (int(round(mx)), int(round(my))), tip, LINE_COLOUR, thick, cv2.LINE_AA, tipLength=0.4)
        _text(out, f"{line.name} in {n_in} out {n_out}", (min(max(p1[0], 0), w - 10), max(p1[1] - 8, 0)), scale,
              LINE_COLOUR)
    return out


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, colour) -> None:
    import cv2

    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x = min(max(origin[0], 0), max(image.shape[1] - tw - 4, 0))
    y = min(max(origin[1], 0), max(image.shape[0] - th - base - 2, 0))
    cv2.rectangle(image, (x, y), (x + tw + 4, y + th + base + 2), (0, 0, 0), -1)
    cv2.putText(image, text, (x + 2, y + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
