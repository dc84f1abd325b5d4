"""Start-up checks past what the settings' own validation can see: the agent profiles on disk, ``AGENT``, the tools
the profiles name, and whether the database answers.

A gateway that would answer callers with the wrong agent or lose their records must not start, so those problems
are fatal: ``serve`` prints one line each and exits non-zero, ``doctor`` says the same. A profile naming a tool no
source provides is a warning: the profile loads without that tool (the rest of the scenario still works), and the
line names the profile, its file and the tool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from .config import Settings
from .profiles import PACKAGED_AGENTS, ProfileError, parse_profile
from .tools.mcp_source import SEPARATOR

logger = logging.getLogger(__name__)

DATABASE_TIMEOUT_S = 8.0  # a database that does not answer within this is reported, not retried for minutes


@dataclass(frozen=True, slots=True)
class Problem:
    setting: str  # the variable to look at
    message: str  # what is wrong and how to fix it, never a secret
    fatal: bool = True

    def line(self) -> str:
        return f"{self.setting}: {self.message}"


def profile_problems(settings: Settings, tool_names: Collection[str]) -> list[Problem]:
    """``AGENTS_DIR`` and its profiles, ``AGENT``, and the tools each profile names (``tool_names``: the registry's,
    before MCP tools are loaded a name ``<label>__<tool>`` of a configured MCP server counts as known)."""
    directory = settings.agents_dir or PACKAGED_AGENTS
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a folder"
        return [Problem("AGENTS_DIR", f"{directory} {what}; point it at a folder of agent profile .md files, or unset it for the shipped profiles")]
    where = str(directory) if settings.agents_dir else "the shipped profiles (gateway/agents)"
    problems: list[Problem] = []
    names: list[str] = []
    mcp_labels = {s.label for s in settings.mcp_servers}
    for path in sorted(directory.glob("*.md")):
        try:
            profile = parse_profile(path.read_text(encoding="utf-8"), path.name)
        except (ProfileError, OSError, UnicodeDecodeError) as exc:
            problems.append(Problem("AGENTS_DIR", f"{str(exc).splitlines()[0][:200]}; this profile is skipped until fixed", fatal=False))
            continue
        names.append(profile.name)
        for tool in profile.tools:
            if tool in tool_names:
                continue
            label = tool.split(SEPARATOR, 1)[0] if SEPARATOR in tool else None
            if label in mcp_labels and not tool_names_include_mcp(tool_names, label):
                continue  # an MCP server's tool: checked once that server's tools are loaded
            problems.append(
                Problem(
                    "AGENTS_DIR",
                    f"profile {profile.name} ({path.name}) names tool {tool!r}, which no tool source provides: the profile "
                    f"loads without it; fix its 'tools:' list (known: {', '.join(sorted(tool_names))})",
                    fatal=False,
                )
            )
        for label in profile.mcp_servers:
            if label not in mcp_labels:
                problems.append(
                    Problem(
                        "MCP_SERVERS",
                        f"profile {profile.name} ({path.name}) names MCP server {label!r}, which is not configured: its tools "
                        "are left out; add it to MCP_SERVERS or remove it from the profile",
                        fatal=False,
                    )
                )
    if not names:
        problems.append(Problem("AGENTS_DIR", f"{where} holds no valid agent profile (*.md with front matter); add one or unset AGENTS_DIR"))
    elif settings.agent not in names:
        problems.append(Problem("AGENT", f"no agent profile named {settings.agent!r} in {where}; set AGENT to one of: {', '.join(names)}"))
    return problems


def tool_names_include_mcp(tool_names: Collection[str], label: str) -> bool:
    """Whether the MCP server ``label``'s tools are loaded already (then its names are checked like any other)."""
    return any(name.startswith(f"{label}{SEPARATOR}") for name in tool_names)


def database_where(url: str) -> str:
    """Where a database URL points, without its password."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return f"the SQLite file {parsed.database or ':memory:'}"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


async def database_problem(settings: Settings, timeout: float = DATABASE_TIMEOUT_S) -> Problem | None:
    """Open the store once (creating tables, as start-up does): one line naming where it failed, never a traceback."""
    from .store import Store

    store = Store(settings.database_url)
    try:
        await asyncio.wait_for(store.open(), timeout)
        return None
    except TimeoutError:
        reason = f"no answer within {timeout:.0f}s"
    except Exception as exc:  # any driver error: reported as one line
        root = getattr(exc, "orig", None) or exc.__cause__ or exc
        reason = (str(root).splitlines() or [type(root).__name__])[0][:200] or type(root).__name__
        password = make_url(settings.database_url).password
        if password:
            reason = reason.replace(str(password), "***")
    finally:
        await store.close()
    return Problem(
        "DATABASE_URL",
        f"cannot use the database at {database_where(settings.database_url)} ({reason}); check the host, port, "
        "name and credentials in DATABASE_URL and that the server is running",
    )
