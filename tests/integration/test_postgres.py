"""The store works on PostgreSQL through the same DATABASE_URL setting (a throw-away cluster via pg_virtualenv)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("pg_virtualenv") is None, reason="PostgreSQL server tools (Debian postgresql) not installed")
def test_the_store_runs_on_postgresql() -> None:
    out = subprocess.run(
        ["pg_virtualenv", "--", sys.executable, "-m", "tests.integration.postgres_check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert "postgres ok" in out.stdout
