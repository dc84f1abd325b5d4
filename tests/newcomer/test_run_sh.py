"""run.sh installs once and then starts at once; its test branch installs Debian packages only when one is missing.

Run against a copy of run.sh with stand-in commands on PATH that record their calls, so nothing is installed."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _rig(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    repo, bin_dir, log = tmp_path / "repo", tmp_path / "bin", tmp_path / "calls.log"
    (repo / ".venv" / "bin").mkdir(parents=True)
    bin_dir.mkdir()
    shutil.copy(ROOT / "run.sh", repo / "run.sh")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    for name in ("python", "voice-gateway"):
        _script(repo / ".venv" / "bin" / name, f'echo "{name} $*" >> {log}')
    for name in ("chromium", "pg_virtualenv", "redis-server"):
        _script(bin_dir / name, "true")
    # a long font list with the Japanese font first: `grep -q` would stop early and fc-list die of SIGPIPE
    _script(bin_dir / "fc-list", 'echo "/usr/share/fonts/ipag.ttf: IPAGothic"; for i in $(seq 1 20000); do echo "/f/$i.ttf: Font $i"; done')
    for name in ("apt-get", "sudo"):
        _script(bin_dir / name, f'echo "{name} $*" >> {log}')
    for tool in ("bash", "env", "sha256sum", "cut", "rm", "touch", "grep", "seq", "id", "dirname", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}  # only the stand-ins and the basic tools run.sh uses
    return repo, env, log


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_serve_installs_once_then_starts_without_pip(tmp_path: Path) -> None:
    repo, env, log = _rig(tmp_path)
    subprocess.run(["./run.sh", "serve", "--port", "9"], cwd=repo, env=env, check=True, timeout=60, capture_output=True)
    first = _calls(log)
    assert any("-m pip install" in c for c in first) and first[-1] == "voice-gateway serve --port 9"
    log.unlink()
    subprocess.run(["./run.sh", "serve", "--port", "9"], cwd=repo, env=env, check=True, timeout=60, capture_output=True)
    assert _calls(log) == ["voice-gateway serve --port 9"]  # no pip on the second start
    (repo / "pyproject.toml").write_text((repo / "pyproject.toml").read_text() + "\n# changed\n")
    log.unlink()
    subprocess.run(["./run.sh", "serve"], cwd=repo, env=env, check=True, timeout=60, capture_output=True)
    assert any("-m pip install" in c for c in _calls(log))  # a changed pyproject.toml installs again


def test_test_branch_skips_apt_when_everything_is_present(tmp_path: Path) -> None:
    repo, env, log = _rig(tmp_path)
    result = subprocess.run(["./run.sh", "test", "-q"], cwd=repo, env=env, timeout=60, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    calls = _calls(log)
    assert not [c for c in calls if c.startswith(("apt-get", "sudo"))], calls
    assert calls[-1] == "python -m pytest -q"


def test_test_branch_installs_redis_and_the_rest_when_missing(tmp_path: Path) -> None:
    repo, env, log = _rig(tmp_path)
    os.remove(tmp_path / "bin" / "redis-server")
    subprocess.run(["./run.sh", "test"], cwd=repo, env=env, timeout=60, capture_output=True)
    installs = [c for c in _calls(log) if "install" in c and "apt-get" in c]
    assert installs and all(p in installs[-1] for p in ("chromium", "postgresql", "redis-server", "fonts-ipafont-gothic"))
