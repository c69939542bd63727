"""The import contracts hold, and each would catch a bad import (STYLE.md: who may import what)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def run_lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("tree")
    shutil.copytree(
        ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("static", "__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


class TestImportContracts:
    def test_the_tree_keeps_every_contract(self, tree: Path) -> None:
        result = run_lint_imports(tree)
        assert result.returncode == 0, result.stdout

    @pytest.mark.parametrize(
        ("module", "bad_import", "contract"),
        [
            ("ingest/pipeline/url.py", "import sqlalchemy", "The enrichment pipeline is pure"),
            ("kit/time.py", "import whowhywhen.ingest.service", "Foundations import no domain"),
            (
                "ingest/service.py",
                "import fastapi",
                "Only endpoints and auth modules import FastAPI",
            ),
            (
                "ingest/service.py",
                "import whowhywhen.api_key.repository",
                "The collector uses other domains through their services",
            ),
        ],
    )
    def test_a_bad_import_breaks_its_contract(
        self, tree: Path, module: str, bad_import: str, contract: str
    ) -> None:
        path = tree / "src" / "whowhywhen" / module
        original = path.read_text()
        path.write_text(f"{bad_import}  # noqa\n{original}")
        try:
            result = run_lint_imports(tree)
        finally:
            path.write_text(original)
        assert result.returncode != 0
        assert f"{contract} BROKEN" in result.stdout
