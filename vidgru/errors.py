"""Exceptions raised by vidgru.

Every error a user can cause derives from :class:`VidgruError`. The CLI turns these into a one-line message
and a non-zero exit; the batch runner records them per file and carries on.
"""

from __future__ import annotations


class VidgruError(Exception):
    """Base class for errors caused by input, configuration or environment (not by bugs)."""


class VideoOpenError(VidgruError):
    """A video source cannot be opened or yields no decodable frames."""


class ImageReadError(VidgruError):
    """A still image cannot be read, or is one an image model cannot use (too small, too large)."""


class ConfigError(VidgruError):
    """A configuration key or value is not valid."""


class CheckpointError(VidgruError):
    """A file is not a vidgru checkpoint, or is one this version cannot read."""


class WeightsUnavailableError(VidgruError):
    """Pretrained weights are needed but cannot be found locally nor downloaded."""


class DatasetError(VidgruError):
    """A training or evaluation data set is empty, malformed or unusable."""


class DetectorError(VidgruError):
    """A detector cannot be built (unknown name, missing model file or runtime) or its input is malformed."""


class DisplayUnavailableError(VidgruError):
    """A live window was asked for on a machine without a display (or an OpenCV build without GUI support)."""


class DeviceMemoryError(VidgruError):
    """The compute device ran out of memory even for the smallest batch."""
