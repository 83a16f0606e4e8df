"""The documentation site builds with Sphinx, warnings as errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx", reason="Sphinx is not installed (pip install -e '.[test]')")
pytest.importorskip("furo", reason="furo is not installed (pip install -e '.[test]')")
pytest.importorskip("myst_parser", reason="MyST-Parser is not installed (pip install -e '.[test]')")

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_docs_build_without_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"),
            *("-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    index = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    # The examples are included from docs/examples, not copied into the pages.
    assert "send_welcome" in index
    api = (tmp_path / "html" / "api.html").read_text(encoding="utf-8")
    assert "wait_for_async" in api  # built from the docstrings
