"""What is configured, per channel and provider, and which variables would enable the rest. Never a secret."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from . import offline
from .config import MICROSOFT_ACS_JWKS_URL, Settings, redis_location


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    missing: list[str] = field(default_factory=list)
    optional: bool = False
    notice: bool = False  # not a fault but said loudly (the offline demo): shown as DEMO, never as a disabled channel


def _realtime(settings: Settings) -> Check:
    provider = settings.realtime_provider
    if provider == "azure":
        dialect = f"preview api-version {settings.azure_openai_api_version}" if settings.azure_openai_api_version else "GA /openai/v1"
        return Check("Realtime provider", True, f"Azure OpenAI, deployment {settings.azure_openai_realtime_deployment} ({dialect})")
    if provider == "openai":
        where = settings.openai_base_url or "api.openai.com"
        return Check("Realtime provider", True, f"OpenAI {settings.openai_realtime_model} at {where}")
    return Check(
        "Realtime provider",
        False,
        "no Realtime provider",
        ["OPENAI_API_KEY", "or AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_API_KEY + AZURE_OPENAI_REALTIME_DEPLOYMENT"],
    )


def _chat(settings: Settings) -> Check:
    provider = settings.chat_provider
    if provider == "azure":
        return Check("Chat model", True, f"Azure OpenAI deployment {settings.azure_openai_chat_deployment}")
    if provider == "openai":
        return Check("Chat model", True, f"OpenAI {settings.openai_chat_model}")
    return Check("Chat model", False, "no chat model (WebSocket fallback and summaries)", ["OPENAI_API_KEY", "or AZURE_OPENAI_CHAT_DEPLOYMENT"])


def _profiles(settings: Settings) -> list[Check]:
    """The same checks ``serve`` stops on (AGENTS_DIR, AGENT), and its warnings (tools no source provides)."""
    from .preflight import profile_problems
    from .services import build_registry

    problems = profile_problems(settings, build_registry(settings).names())
    fatal = [p for p in problems if p.fatal]
    if fatal:
        checks = [Check("Agent profiles", False, p.line()) for p in fatal]
    else:
        where = settings.agents_dir or "the shipped profiles"
        checks = [Check("Agent profiles", True, f"AGENT {settings.agent} found in {where}")]
    return checks + [Check("Agent profile warning", False, p.line(), optional=True) for p in problems if not p.fatal]


def _readings(settings: Settings) -> Check:
    from .readings.library import describe, readings_path

    ok, detail = describe(readings_path(settings.agents_dir, settings.readings_file))
    return Check("Readings dictionary", bool(ok), detail, [] if ok else ["READINGS_FILE or readings.yaml beside AGENTS_DIR"], optional=True)


def _offline(settings: Settings, emulated: bool) -> Check | None:
    """Offline mode (gateway/offline.py) first and loud: the agent a visitor talks to is not a real model."""
    if emulated:
        detail = "OFFLINE DEMO: the agent, Speech and chat are built-in emulators (scripted replies); real phone calls are not answered"
    elif offline.wanted(settings):
        detail = "no AI provider configured: `voice-gateway serve` will run the OFFLINE DEMO (built-in emulators, scripted replies)"
    else:
        return None
    return Check("Offline demo", False, detail, [offline.PROVIDER_VARIABLES], notice=True)


def _twilio(settings: Settings, realtime_ok: bool) -> Check:
    """The Twilio line (optional: most deployments have one carrier); names the account, never the token."""
    missing = []
    if not settings.twilio_configured:
        missing.append("TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN")
    if not settings.public_base_url:
        missing.append("PUBLIC_BASE_URL")
    if not realtime_ok:
        missing.append("a Realtime provider")
    if missing:
        return Check("Phone (Twilio)", False, "Twilio calls disabled", missing, optional=True)
    number = settings.twilio_phone_number or "any number whose Voice URL is /api/twilio/voice"
    where = "" if settings.twilio_api_base == "https://api.twilio.com" else f", API at {settings.twilio_api_base}"
    detail = f"Twilio answers {number} (account {settings.twilio_account_sid}, media {settings.twilio_audio}{where})"
    return Check("Phone (Twilio)", True, detail, optional=True)


def _shared_state(settings: Settings) -> Check:
    if settings.redis_url is not None:
        where = redis_location(settings.redis_url.get_secret_value())
        return Check("Shared state", True, f"Redis at {where}: limits and the console's live view span every worker", optional=True)
    detail = "in this process: with more than one worker, limits and the console's live view are per worker"
    return Check("Shared state", False, detail, ["REDIS_URL"], optional=True)


def _outbound(settings: Settings) -> Check:
    """Outbound calls (POST /api/calls, campaigns): the API token, and a caller ID per configured carrier."""
    missing = [] if settings.api_token is not None and settings.api_token.get_secret_value() else ["API_TOKEN"]
    if settings.acs_configured and not settings.acs_phone_number:
        missing.append("ACS_PHONE_NUMBER (caller ID on ACS)")
    if settings.twilio_configured and not settings.twilio_phone_number:
        missing.append("TWILIO_PHONE_NUMBER (caller ID on Twilio)")
    detail = "POST /api/calls places calls" if not missing else "outbound calls disabled or partial"
    return Check("Outbound calls", not missing, detail, missing, optional=True)


def run_checks(settings: Settings, emulated: bool = False) -> list[Check]:
    """``emulated``: this gateway runs on the built-in emulators (its provider settings point at them)."""
    realtime, chat = _realtime(settings), _chat(settings)
    if emulated:
        realtime.detail = chat.detail = "emulated (offline demo)"
    checks = [*_profiles(settings), realtime, chat]

    acs_missing = []
    if not settings.acs_configured:
        acs_missing.append("ACS_CONNECTION_STRING or ACS_ENDPOINT + ACS_ACCESS_KEY")
    if not settings.public_base_url:
        acs_missing.append("PUBLIC_BASE_URL")
    if not realtime.ok:
        acs_missing.append("a Realtime provider")
    acs_ok = not acs_missing
    detail = f"ACS answers calls, media {settings.acs_audio_format}" if acs_ok else "phone calls disabled"
    if emulated:
        detail = f"emulated line only: voice-gateway simulate-call (ACS emulator at {offline.SIMULATOR_ACS_URL}) and the console's demo calls"
    checks.append(Check("Phone (ACS)", acs_ok, detail, acs_missing))
    twilio = _twilio(settings, realtime.ok)
    if emulated and twilio.ok:
        twilio.detail = f"emulated line only: voice-gateway simulate-call --carrier twilio (Twilio emulator at {offline.SIMULATOR_TWILIO_URL}) and the console's demo calls"
    checks.append(twilio)
    if settings.acs_resource_id:
        jwks = "Microsoft's keys" if settings.acs_jwks_url == MICROSOFT_ACS_JWKS_URL else settings.acs_jwks_url
        checks.append(Check("ACS JWT validation", True, f"audience {settings.acs_resource_id}, keys from {jwks}", optional=True))
    else:
        checks.append(Check("ACS JWT validation", False, "only the per-call URL token protects callbacks", ["ACS_RESOURCE_ID"], optional=True))

    checks.append(_outbound(settings))
    if settings.event_grid_secret is not None:
        checks.append(Check("Event Grid secret", True, "/api/incoming-call takes only deliveries with ?code=", optional=True))
    else:
        checks.append(Check("Event Grid secret", False, "anyone who finds /api/incoming-call can post events to it", ["EVENT_GRID_SECRET"], optional=True))

    checks.append(
        Check("Browser WebRTC", realtime.ok, "ephemeral keys minted by the gateway" if realtime.ok else "WebRTC disabled", [] if realtime.ok else ["a Realtime provider"])
    )
    cascade_missing = []
    if not settings.speech_configured:
        cascade_missing.append("AZURE_SPEECH_KEY + AZURE_SPEECH_REGION (or AZURE_SPEECH_HOST)")
    if not chat.ok:
        cascade_missing.append("a chat model")
    checks.append(
        Check(
            "Browser WebSocket (STT→LLM→TTS)",
            not cascade_missing,
            "Azure Speech + chat completions" if not cascade_missing else "WebSocket fallback disabled",
            cascade_missing,
        )
    )
    checks.append(
        Check("Presenter console", bool(settings.console_token), "/console" if settings.console_token else "console disabled", [] if settings.console_token else ["CONSOLE_TOKEN"])
    )
    checks.append(_shared_state(settings))
    if settings.mcp_servers:
        labels = ", ".join(f"{s.label}{' (native)' if s.native else ''}" for s in settings.mcp_servers)
        checks.append(Check("MCP servers", True, labels, optional=True))
    else:
        checks.append(Check("MCP servers", False, "none", ["MCP_SERVERS or MCP_SERVER_URL"], optional=True))
    checks.append(_readings(settings))
    notice = _offline(settings, emulated)
    return [notice, *checks] if notice else checks


def as_dicts(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]


def render(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        mark = "ok " if check.ok else ("DEMO" if check.notice else "-- " if check.optional else "NO ")
        line = f"[{mark}] {check.name}: {check.detail}"
        if check.missing:
            line += f"  (set {'; '.join(check.missing)})"
        lines.append(line)
    return "\n".join(lines)
