"""The local stack's tests: each stack owns the environment of its functions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def service_env() -> Iterator[dict[str, str]]:
    """Overrides the suite's: the local stack owns the environment of its functions."""
    yield {}
