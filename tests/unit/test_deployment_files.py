"""The reference deployment (Dockerfile, deploy/compose.yaml) runs what the tests run, with settings the gateway knows.

A renamed setting or a changed serve command must break this test rather than a deployment."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from pydantic import AliasChoices

from gateway.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def setting_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(name.upper())
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
    return names


def test_the_image_runs_serve_with_workers_and_its_own_peer_address() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    command = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert command, "Dockerfile has an exec-form CMD"
    shell = yaml.safe_load(command.group(1))[-1]
    words = shlex.split(shell)
    assert words[words.index("exec") + 1 : words.index("exec") + 3] == ["voice-gateway", "serve"]
    assert "--workers" in words and "--host" in words
    assert shell.startswith("PEER_HOST="), "each replica announces its own address to the other"


def test_compose_runs_two_replicas_on_redis_and_postgresql_with_known_settings() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    gateways = [s for s in services.values() if s.get("build")]
    assert len(gateways) == 2 and {"redis", "postgres", "proxy"} <= set(services)
    known = setting_names()
    for gateway in gateways:
        env = gateway["environment"]
        assert env["REDIS_URL"].startswith("redis://") and env["DATABASE_URL"].startswith("postgresql://")
        assert set(env) <= known, set(env) - known
    example = (ROOT / "deploy" / ".env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M)) - {"POSTGRES_PASSWORD"}
    assert names and names <= known, names - known


def test_the_proxy_spreads_over_both_replicas_and_passes_websockets() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    replicas = {name for name, s in compose["services"].items() if s.get("build")}
    assert set(re.findall(r"server (\S+):8000;", conf)) == replicas
    assert "ip_hash" not in conf and "sticky" not in conf  # no affinity: the gateway routes each call itself
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
