"""Fixtures shared by the face tests."""

from __future__ import annotations

from typing import Any

import pytest

from skemotion.face import _landmarks


@pytest.fixture
def extracted_sources(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The sources FaceLandmarks extracts during the test, in call order.

    Every extraction (decoding and tracking a video, or reading an OpenFace CSV) goes
    through ``_landmarks._extract``, which this fixture wraps to record its source; a cache
    hit never reaches it. The test may ``clear()`` the list between steps.
    """
    sources: list[Any] = []
    extract = _landmarks._extract

    def recording_extract(source: Any, settings: Any) -> Any:
        sources.append(source)
        return extract(source, settings)

    monkeypatch.setattr(_landmarks, "_extract", recording_extract)
    return sources
