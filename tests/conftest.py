"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real footage and annotations described in ``../shared/data`` (see DATA.md), read in place.

    Skipped when the folder is absent on a developer machine; on CI (``CI=true``) its absence is a failure.
    """
    root = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not root.is_dir():
        message = f"real test data not found at {root} (see DATA.md)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root
