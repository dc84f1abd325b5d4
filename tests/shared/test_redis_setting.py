"""``REDIS_URL``: redis://, rediss:// or unix://; a bad value is one clear line that never repeats it; ``doctor``
shows where it points without the password; no log line carries the password, even when Redis is unreachable."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import REDIS_URL_HELP, Settings, format_errors
from gateway.doctor import render, run_checks
from gateway.services import Gateway
from tests.conftest import make_settings

PASSWORD = "redis-pw-NEVER-SHOWN-8841"


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{PASSWORD}@cache.internal:6379/2",
        f"rediss://default:{PASSWORD}@gw.redis.cache.windows.net:6380/0",
        "unix:///run/redis/redis.sock",
    ],
)
def test_the_three_forms_are_accepted_and_reported_without_the_password(url: str) -> None:
    settings = Settings(_env_file=None, REDIS_URL=url)
    assert settings.redis_url is not None and settings.redis_url.get_secret_value() == url
    rendered = render(run_checks(settings)) + repr(settings) + str(settings.model_dump())
    assert PASSWORD not in rendered
    line = next(line for line in render(run_checks(settings)).splitlines() if "Shared state" in line)
    assert line.startswith("[ok ]") and url.split("@")[-1].split("/")[0].split(":")[0] in line


@pytest.mark.parametrize(
    "bad", ["http://cache:6379", f"redis://:{PASSWORD}@cache:port", "redis://", "cache:6379", "unix://"]
)
def test_a_bad_redis_url_is_one_clear_line_that_does_not_repeat_it(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, REDIS_URL=bad)
    [line] = format_errors(info.value)
    assert line == f"REDIS_URL: {REDIS_URL_HELP}"  # the same help whatever was written: never the value


def test_unset_means_per_process_and_doctor_says_so() -> None:
    check = next(c for c in run_checks(Settings(_env_file=None)) if c.name == "Shared state")
    assert not check.ok and check.optional and check.missing == ["REDIS_URL"] and "per worker" in check.detail


def test_serve_stops_on_a_bad_redis_url_without_echoing_it(tmp_path: Path) -> None:
    env = {**os.environ, "REDIS_URL": f"redis://:{PASSWORD}@cache:notaport"}
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert out.returncode == 2
    assert [line for line in out.stderr.splitlines() if line.startswith("configuration error:")] == [
        next(line for line in out.stderr.splitlines() if "REDIS_URL" in line)
    ]
    assert PASSWORD not in out.stdout + out.stderr


async def test_an_unreachable_redis_is_said_once_without_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, redis_url=f"redis://:{PASSWORD}@127.0.0.1:1/0")
    gw = Gateway.build(settings)
    with caplog.at_level(logging.DEBUG):
        await gw.start()  # Redis is not there: the gateway starts anyway
        try:
            assert await gw.tool_budget.spend("web-1")
            assert await gw.mint_limiter.hit("198.51.100.1") == 0
        finally:
            await gw.stop()
    said = [r.getMessage() for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(said) == 1
    assert not any(PASSWORD in r.getMessage() for r in caplog.records)
