"""Where the tests find the repository and the shared reference files (absent from a user's clone)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]          # the repository
SHARED = Path(os.environ.get("VP3D_SHARED", ROOT.parent / "shared"))   # a worktree: VP3D_SHARED=/work/shared
GOLDEN = SHARED / "reference" / "golden"


def golden_dir() -> Path:
    """The shared golden case; skips the test where ../shared is absent (a user's clone)."""
    if not (GOLDEN / "upstream_eval.json").is_file():
        pytest.skip("../shared/reference/golden is not available")
    return GOLDEN
