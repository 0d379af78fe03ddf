"""Fixtures shared by the test files."""

import pytest


@pytest.fixture
def datasets(tmp_path, monkeypatch):
    """``$DETECTRON2_DATASETS`` set to a fresh folder of the test (synthetic datasets are
    generated there on first use); returns that folder."""
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))
    return tmp_path / "datasets"
