"""Shared fixtures: where the reference runs are, and small helpers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data"


def shared_data_dir() -> Path | None:
    """The full reference set: $SLEM_DFT_TEST_DATA, else ../shared/data beside the repository."""
    env = os.environ.get("SLEM_DFT_TEST_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture
def shared() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("full reference data not found: set SLEM_DFT_TEST_DATA or put it at ../shared/data")
    return path


@pytest.fixture
def bundled() -> Path:
    return BUNDLED


@pytest.fixture
def copy_run(tmp_path):
    """Copy a run directory into tmp_path (writable) and return the copy."""

    def _copy(src: Path, name: str | None = None) -> Path:
        dst = tmp_path / (name or src.name)
        shutil.copytree(src, dst)
        for p in dst.rglob("*"):
            p.chmod(0o644 if p.is_file() else 0o755)
        return dst

    return _copy


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
