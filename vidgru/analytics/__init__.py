"""Video analytics on tracks: line counts, zone occupancy and dwell, speeds and heatmaps.

``spec`` says what to measure (from ``--line``/``--zone`` flags or an ``--analytics`` YAML file), ``geometry``
holds the shapes and their arithmetic, ``engine`` turns each frame's tracks into events and a summary,
``heatmap`` accumulates where tracks went, ``draw`` draws lines, zones and counts on frames.
"""

from vidgru.analytics.engine import Analytics, anchor_points
from vidgru.analytics.events import AnalyticsSummary, CrossEvent, Event, ZoneEvent
from vidgru.analytics.spec import AnalyticsSpec, analytics_spec, load_analytics

__all__ = ["Analytics", "AnalyticsSpec", "AnalyticsSummary", "CrossEvent", "Event", "ZoneEvent", "analytics_spec",
           "anchor_points", "load_analytics"]
