"""Settings: read once from the environment (and `.env`), validated, then passed down. Nothing else reads os.environ."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from .guard import TrustedProxies

MICROSOFT_ACS_JWKS_URL = "https://acscallautomation.communication.azure.com/calling/keys"
ACS_ISSUER = "https://acscallautomation.communication.azure.com"
SECRET_ENV = "GATEWAY_SECRET"


class McpServer(BaseModel):
    """One MCP server whose tools join the shared registry."""

    label: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    url: str
    token: SecretStr | None = None
    allowed_tools: list[str] | None = None
    require_approval: Literal["never", "always"] = "never"
    native: bool = False  # hand to the Realtime provider as a `type: "mcp"` tool instead of calling it ourselves

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        checked = _check_url(value, ("http://", "https://"))
        if checked is None:
            raise ValueError("must be an http:// or https:// URL")
        return value.strip()


def _check_url(value: str | None, schemes: tuple[str, ...]) -> str | None:
    """A URL of one of ``schemes`` with a host (loopback ``http://`` included: emulators and tests use it)."""
    if value in (None, ""):
        return None
    assert value is not None
    value = value.strip()
    if not value.startswith(schemes):
        raise ValueError(f"must start with {' or '.join(schemes)}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"is not a valid URL; expected {schemes[-1]}host[:port][/path]") from None
    if not parts.hostname or " " in value:
        raise ValueError(f"is not a valid URL; expected {schemes[-1]}host[:port][/path]")
    return value.rstrip("/")


def split_connection_string(value: str) -> tuple[str, str]:
    """``endpoint=...;accesskey=...`` (any order and case) into the endpoint and the key; one clear error otherwise.
    The message never repeats the value: it carries the access key."""
    parts = dict(
        (k.strip().lower(), v.strip()) for k, _, v in (p.partition("=") for p in value.split(";") if "=" in p)
    )
    endpoint, key = parts.get("endpoint"), parts.get("accesskey")
    if not endpoint or not key:
        raise ValueError(ACS_CONNECTION_STRING_HELP)
    try:
        endpoint = _check_url(endpoint, ("http://", "https://"))
    except ValueError:
        raise ValueError(f"its endpoint is not an http(s) URL; {ACS_CONNECTION_STRING_HELP}") from None
    try:
        base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"its accesskey is not base64; {ACS_CONNECTION_STRING_HELP}") from None
    assert endpoint is not None
    return endpoint, key


ACS_CONNECTION_STRING_HELP = (
    "expected endpoint=https://<resource>.communication.azure.com/;accesskey=<key>, copied from the ACS resource's "
    "Keys page in the Azure portal (or set ACS_ENDPOINT + ACS_ACCESS_KEY instead)"
)


REDIS_URL_HELP = (
    "expected redis://[:password@]host[:port][/db], rediss://... for TLS (Azure Cache for Redis: port 6380), or "
    "unix:///path/to/redis.sock"
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    # --- serving -----------------------------------------------------------------------------------------------
    host: str = Field(default="0.0.0.0", validation_alias=AliasChoices("HOST", "host"))
    port: int = Field(default=8000, ge=1, le=65535, validation_alias=AliasChoices("PORT", "port"))
    workers: int = Field(default=1, ge=1, le=64, validation_alias=AliasChoices("WORKERS", "workers"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"  # auto: uvloop where installed (see gateway/event_loop.py)
    server: Literal["hypercorn", "granian"] = "hypercorn"  # granian: Rust WebSocket framing (gateway/granian_serving.py)
    public_base_url: str | None = Field(default=None, validation_alias=AliasChoices("PUBLIC_BASE_URL", "APP_BASE_URL", "public_base_url"))
    gateway_secret: SecretStr | None = None  # signs per-call and per-session tokens; shared by all workers
    drain_timeout_s: float = Field(default=30.0, ge=0)
    # per worker process: phone calls and browser WebSocket conversations, whose audio passes through the gateway
    # (WebRTC audio does not); past it a new call is rejected as busy and /readyz says 503. 0: no limit
    max_media_sessions: int = Field(default=0, ge=0)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_ws_message_bytes: int = Field(default=256 * 1024, ge=1024)
    # proxies whose X-Forwarded-For / Forwarded name the client (comma list of IPs / CIDRs, or *); empty: none
    forwarded_allow_ips: str = ""

    # --- agent and store ---------------------------------------------------------------------------------------
    agent: str = "support-desk"
    agents_dir: Path | None = None  # default: the profiles shipped in gateway/agents
    readings_file: Path | None = None  # default: readings.yaml beside the agent profiles
    database_url: str = "sqlite+aiosqlite:///./data/gateway.db"
    # live state every worker and replica shares (limits, lock-outs, the console's live view); unset: per process
    redis_url: SecretStr | None = None
    # with REDIS_URL: the address other gateway processes reach this one's peer listener at (a call's requests
    # that land elsewhere are handed to the process that answered it); replicas on other hosts: this one's private IP
    peer_host: str = "127.0.0.1"
    tool_timeout_s: float = Field(default=8.0, gt=0)

    # --- ACS -------------------------------------------------------------------------------------------------------
    acs_connection_string: SecretStr | None = None
    acs_endpoint: str | None = None
    acs_access_key: SecretStr | None = None
    acs_audio_format: Literal["pcm24k", "pcm16k"] = "pcm24k"
    acs_resource_id: str | None = None
    # the Event Grid subscription's endpoint carries ?code=<this>; set, /api/incoming-call refuses events without it
    event_grid_secret: SecretStr | None = None
    acs_jwks_url: str = MICROSOFT_ACS_JWKS_URL
    cognitive_services_endpoint: str | None = None
    acs_phone_number: str | None = None  # the caller ID of outbound ACS calls (E.164, a number of the resource)

    # --- Twilio ----------------------------------------------------------------------------------------------------
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_phone_number: str | None = None
    twilio_api_base: str = "https://api.twilio.com"  # a loopback URL for the Twilio emulator
    twilio_say_voice: str = "Polly.Mizuki"  # the <Say> voice of the greeting and the apology
    twilio_audio: Literal["pcmu", "pcm"] = "pcmu"  # μ-law passed through to the provider, or converted here

    # --- Azure OpenAI ----------------------------------------------------------------------------------------------
    azure_openai_endpoint: str | None = None
    azure_openai_api_key: SecretStr | None = None
    azure_openai_api_version: str = ""  # empty: the GA /openai/v1 protocol
    azure_openai_realtime_deployment: str | None = None
    azure_openai_chat_deployment: str | None = None

    # --- OpenAI ----------------------------------------------------------------------------------------------------
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_realtime_model: str = "gpt-realtime"
    openai_chat_model: str = "gpt-4.1-mini"
    openai_voice: str = "marin"
    realtime_transcription_model: str = "gpt-4o-mini-transcribe"

    # --- Azure Speech ----------------------------------------------------------------------------------------------
    azure_speech_key: SecretStr | None = None
    azure_speech_region: str | None = None
    azure_speech_host: str | None = None

    # --- greeting --------------------------------------------------------------------------------------------------
    greeting_text: str | None = None
    greeting_voice: str = "ja-JP-NanamiNeural"

    # --- MCP -------------------------------------------------------------------------------------------------------
    mcp_servers: Annotated[list[McpServer], NoDecode] = Field(default_factory=list)
    mcp_server_url: str | None = None
    mcp_server_label: str = "mcp"
    mcp_auth_token: SecretStr | None = None
    mcp_require_approval: Literal["never", "always"] = "never"

    # --- console and web -------------------------------------------------------------------------------------------
    console_token: SecretStr | None = None
    api_token: SecretStr | None = None  # bearer token of POST /api/calls (outbound calls); unset: the API is off
    outbound_ring_timeout_s: int = Field(default=30, ge=5, le=600)  # an outbound call rings this long, then no answer
    mint_rate_per_minute: int = Field(default=10, ge=1)
    browser_resume_grace_s: float = Field(default=30.0, ge=0)  # a dropped browser socket may reconnect this long
    ephemeral_key_ttl_s: int = Field(default=120, ge=10, le=7200)
    # a browser session's token for /api/tools, /api/handoff and reports: lifetime, and tool calls it may make
    session_token_ttl_s: int = Field(default=3600, ge=60, le=86400)
    session_tool_calls: int = Field(default=60, ge=1)

    @field_validator("public_base_url", "openai_base_url", "azure_openai_endpoint", "acs_endpoint", "cognitive_services_endpoint")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return _check_url(value, ("http://", "https://"))

    @field_validator("server")
    @classmethod
    def _server(cls, value: str) -> str:
        from .granian_serving import available

        if value == "granian" and not available():
            raise ValueError("granian is not installed (pip install 'voice-gateway[granian]')")
        return value

    @field_validator("twilio_api_base")
    @classmethod
    def _twilio_api_base(cls, value: str) -> str:
        return _check_url(value, ("http://", "https://")) or "https://api.twilio.com"

    @field_validator("twilio_account_sid")
    @classmethod
    def _twilio_sid(cls, value: str | None) -> str | None:
        if value and not (value.startswith("AC") and len(value) == 34):
            raise ValueError("must be the Account SID from the Twilio console (AC followed by 32 characters)")
        return value or None

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        from .guard import TrustedProxies

        TrustedProxies.parse(value)
        return value

    @field_validator("azure_speech_host")
    @classmethod
    def _ws(cls, value: str | None) -> str | None:
        return _check_url(value, ("ws://", "wss://"))

    @field_validator("acs_jwks_url")
    @classmethod
    def _jwks(cls, value: str) -> str:
        return _check_url(value, ("http://", "https://")) or MICROSOFT_ACS_JWKS_URL

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        """Accept the plain URL forms people paste and turn them into the async drivers'."""
        for plain, async_form in (
            ("sqlite:///", "sqlite+aiosqlite:///"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
        ):
            if value.startswith(plain):
                return async_form + value[len(plain) :]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        """redis://, rediss:// (TLS) or unix://; the message never repeats the value: it may carry a password."""
        if value is None or not value.get_secret_value().strip():
            return None
        text = value.get_secret_value().strip()
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError(REDIS_URL_HELP) from None
        if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path) or " " in text:
            raise ValueError(REDIS_URL_HELP)
        if parts.scheme == "unix" and not parts.path:
            raise ValueError(REDIS_URL_HELP)
        return SecretStr(text)

    @field_validator("acs_connection_string")
    @classmethod
    def _acs_connection_string(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip():
            split_connection_string(value.get_secret_value())
        return value

    @field_validator("acs_access_key")
    @classmethod
    def _base64_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            try:
                base64.b64decode(value.get_secret_value(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("must be the base64 access key shown in the Azure portal") from None
        return value

    @field_validator("mcp_servers", mode="before")
    @classmethod
    def _mcp_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return []
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a JSON list of {{label, url, token?, allowed_tools?}}: {exc.msg}") from None
        return value

    @model_validator(mode="after")
    def _single_mcp_form(self) -> Settings:
        if self.mcp_server_url and not any(s.url == self.mcp_server_url for s in self.mcp_servers):
            self.mcp_servers.append(
                McpServer(
                    label=self.mcp_server_label,
                    url=self.mcp_server_url,
                    token=self.mcp_auth_token,
                    require_approval=self.mcp_require_approval,
                )
            )
        return self

    # --- derived facts ---------------------------------------------------------------------------------------------
    @property
    def acs_configured(self) -> bool:
        return bool(self.acs_connection_string or (self.acs_endpoint and self.acs_access_key))

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_auth_token.get_secret_value())

    @property
    def realtime_provider(self) -> Literal["azure", "openai"] | None:
        if self.azure_openai_endpoint and self.azure_openai_api_key and self.azure_openai_realtime_deployment:
            return "azure"
        if self.openai_api_key:
            return "openai"
        return None

    @property
    def chat_provider(self) -> Literal["azure", "openai"] | None:
        if self.azure_openai_endpoint and self.azure_openai_api_key and self.azure_openai_chat_deployment:
            return "azure"
        if self.openai_api_key:
            return "openai"
        return None

    @property
    def speech_configured(self) -> bool:
        return bool(self.azure_speech_key and (self.azure_speech_region or self.azure_speech_host))

    @property
    def trusted_proxies(self) -> TrustedProxies:
        from .guard import TrustedProxies

        return TrustedProxies.parse(self.forwarded_allow_ips)

    def secret_values(self) -> list[str]:
        """Every secret configured, as the strings that must never reach a log line (the gateway secret fixed)."""
        self.secret()
        values = [v.get_secret_value() for v in self.__dict__.values() if isinstance(v, SecretStr)]
        values += [s.token.get_secret_value() for s in self.mcp_servers if s.token is not None]
        if self.acs_connection_string is not None:  # its access key alone may appear too (e.g. in a signature)
            for part in self.acs_connection_string.get_secret_value().split(";"):
                name, _, value = part.partition("=")
                if name.strip().lower() == "accesskey":
                    values.append(value.strip())
        if self.redis_url is not None:  # its password alone may appear too (e.g. in a driver's message)
            values.append(redis_password(self.redis_url.get_secret_value()) or "")
        return [v for v in values if v]

    def secret(self) -> bytes:
        """Key for signing per-call tokens; random per process unless GATEWAY_SECRET is shared (see ``share_secret``)."""
        if self.gateway_secret is None:
            self.gateway_secret = SecretStr(secrets.token_urlsafe(32))
        return self.gateway_secret.get_secret_value().encode()


def redis_password(url: str) -> str | None:
    return urlsplit(url).password


def redis_location(url: str) -> str:
    """Where ``REDIS_URL`` points, for people to read: scheme, host, port, database; never the password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}:{parts.port or (6380 if parts.scheme == 'rediss' else 6379)}{parts.path or '/0'}"


def share_secret_with_workers(settings: Settings) -> None:
    """Put the signing key in the environment so that every Hypercorn worker process verifies the same tokens."""
    os.environ.setdefault(SECRET_ENV, settings.secret().decode())


def format_errors(error: ValidationError) -> list[str]:
    """One clear line per invalid setting, naming the environment variable, never echoing its value."""
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name.upper()}: {message}")
    return lines


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
