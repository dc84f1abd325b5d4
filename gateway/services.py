"""The gateway's services, built once per app and handed to every channel (the composition root wires them)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from .appointments import Calendar, StoreCalendar
from .config import Settings
from .declined import register_declined_tool
from .engines.base import AgentSetup
from .engines.providers import RealtimeTarget, chat_target, realtime_target
from .engines.realtime import RealtimeSession
from .forwarding import Forwarder
from .guard import SharedRateLimiter, TrustedProxies
from .handoff import Handoffs
from .hub import SessionHub
from .logs import protect_secrets, session_id_var
from .preflight import profile_problems
from .profiles import AgentProfile, ProfileLibrary
from .readings.library import ReadingsLibrary, readings_path
from .security import AcsJwtValidator, CallBudget, SessionTokens, TokenSigner
from .shared import SharedState, open_shared_state
from .shared.hub_mirror import HubMirror
from .shared.owners import CallOwners
from .store import Store
from .store.writer import StoreWriter
from .summary import Summarizer
from .tools import ToolContext, ToolRegistry
from .tools.calendar_tools import register_calendar_tools
from .tools.demo import register_demo_tools
from .tools.handoff_tools import register_handoff_tools
from .tools.mcp_source import load_mcp_tools
from .transfer import TransferDesk, register_transfer_tool

logger = logging.getLogger(__name__)


def new_session_id(channel: str) -> str:
    return f"{channel}-{uuid.uuid4().hex[:16]}"


def build_registry(
    settings: Settings, handoffs: Handoffs | None = None, transfers: TransferDesk | None = None, calendar: Calendar | None = None
) -> ToolRegistry:
    """The app's tools before MCP servers add theirs (also what start-up checks profiles against: there without
    ``handoffs``, whose tools are then registered over a store-less stand-in only to be named). ``calendar``: what
    the booking tools book against (default: the store's appointment book)."""
    registry = ToolRegistry(default_timeout=settings.tool_timeout_s)
    register_demo_tools(registry)
    register_calendar_tools(registry, calendar)
    register_handoff_tools(registry, handoffs if handoffs is not None else Handoffs(None))  # type: ignore[arg-type]
    register_transfer_tool(registry, transfers if transfers is not None else TransferDesk())
    register_declined_tool(registry)
    return registry


MEDIA_CHANNELS = ("phone", "twilio", "browser")  # channels whose audio the gateway relays (WebRTC's goes browser ↔ provider)
ANSWER_WINDOW_S = 30.0  # an answered call not connected by then never will be: it stops holding a media slot


@dataclass
class Gateway:
    settings: Settings
    store: Store
    writer: StoreWriter
    hub: SessionHub
    registry: ToolRegistry
    profiles: ProfileLibrary
    signer: TokenSigner
    acs_jwt: AcsJwtValidator | None
    realtime: RealtimeTarget | None
    agent: str
    handoffs: Handoffs
    tokens: SessionTokens  # browser sessions' tokens (scoped, expiring)
    tool_budget: CallBudget  # tool calls per browser session
    shared: SharedState  # live state all workers share (REDIS_URL), else this process's
    mint_limiter: SharedRateLimiter  # MINT_RATE_PER_MINUTE per client, across workers
    owners: CallOwners  # which process answered each live call (with REDIS_URL and a peer listener)
    forwarder: Forwarder  # hands a call's requests that reached this process to the process that owns it
    draining: bool = False
    emulated: bool = False  # offline mode: the agent runs on the built-in emulators (gateway/offline.py)
    mcp_status: dict[str, str] = field(default_factory=dict)
    proxies: TrustedProxies = field(default_factory=TrustedProxies)  # FORWARDED_ALLOW_IPS
    tasks: set[asyncio.Task[object]] = field(default_factory=set)
    media_pending: dict[str, float] = field(default_factory=dict)  # answered, not yet live: session id → when
    readings: ReadingsLibrary = field(default_factory=lambda: ReadingsLibrary(readings_path(None, None)))
    mirror: HubMirror | None = None  # other processes' sessions in this one's hub (only with REDIS_URL)
    transfers: TransferDesk = field(default_factory=TransferDesk)  # live phone calls transfer_to_operator can hand on
    calendar: Calendar | None = None  # what the booking tools book against and the ICS route reads (None: the store's book)

    @classmethod
    def build(cls, settings: Settings) -> Gateway:
        protect_secrets(settings.secret_values())  # before anything that could log one
        store = Store(settings.database_url)
        summarizer = Summarizer(store, chat_target(settings))
        writer = StoreWriter(store, compose=summarizer.compose)
        shared = open_shared_state(settings)
        owners = CallOwners(shared)
        handoffs = Handoffs(store, shared)
        transfers = TransferDesk()
        calendar = StoreCalendar(store)
        registry = build_registry(settings, handoffs, transfers, calendar)
        acs_jwt = AcsJwtValidator(settings.acs_jwks_url, settings.acs_resource_id) if settings.acs_resource_id else None
        hub = SessionHub(writer.offer)
        signer = TokenSigner(settings.secret())
        return cls(
            settings=settings,
            store=store,
            writer=writer,
            hub=hub,
            registry=registry,
            profiles=ProfileLibrary(settings.agents_dir),
            signer=signer,
            acs_jwt=acs_jwt,
            realtime=realtime_target(settings),
            agent=settings.agent,
            handoffs=handoffs,
            tokens=SessionTokens(signer, settings.session_token_ttl_s, hub.ended),
            tool_budget=CallBudget(settings.session_tool_calls, shared, settings.session_token_ttl_s),
            shared=shared,
            mint_limiter=SharedRateLimiter(shared, "mint", settings.mint_rate_per_minute),
            owners=owners,
            forwarder=Forwarder(owners, settings.max_ws_message_bytes),
            proxies=settings.trusted_proxies,
            readings=ReadingsLibrary(readings_path(settings.agents_dir, settings.readings_file)),
            transfers=transfers,
            calendar=calendar,
        )

    async def start(self) -> None:
        await self.store.open()
        self.writer.start()
        await self.shared.start()
        if self.shared.distributed:
            self.mirror = HubMirror(self.hub, self.shared, peer_url=self.owners.peer_url)
            self.mirror.start(self.spawn)
        if self.settings.mcp_servers:
            self.mcp_status = await load_mcp_tools(self.registry, self.settings.mcp_servers)
        for problem in profile_problems(self.settings, self.registry.names()):  # serve stopped on fatal ones already
            (logger.error if problem.fatal else logger.warning)("configuration: %s", problem.line())
        self.readings.current()  # a broken readings file is reported now, not at the first call

    async def stop(self) -> None:
        if self.mirror is not None:
            await self.mirror.stop()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.forwarder.close()
        await self.writer.stop()
        await self.store.close()
        await self.shared.close()

    def spawn(self, coro: object, name: str) -> asyncio.Task[object]:
        """A background task the app owns (cancelled on shutdown), never fire-and-forget. A failure is logged with
        the session id current at spawn time: nobody may ever await the task, so this is where it gets seen."""
        task = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self.tasks.add(task)
        session_id = session_id_var.get()

        def done(finished: asyncio.Task[object]) -> None:
            self.tasks.discard(finished)
            if not finished.cancelled() and (exc := finished.exception()) is not None:
                logger.error("task %s failed: %s", name, exc, exc_info=exc, extra={"session_id": session_id})

        task.add_done_callback(done)
        return task

    def media_starting(self, session_id: str) -> None:
        """A call was answered: it holds a media slot before the hub lists it (until it connects, ends or expires)."""
        self.media_pending[session_id] = time.monotonic()

    def media_sessions(self) -> set[str]:
        """The audio-relaying conversations this process carries: live in the hub, or answered in the last
        ``ANSWER_WINDOW_S``. /readyz and the busy check both count these, so they always agree."""
        now = time.monotonic()
        for session_id, since in list(self.media_pending.items()):
            if now - since > ANSWER_WINDOW_S:
                del self.media_pending[session_id]
        live = {s.session_id for s in self.hub.live_sessions() if s.channel in MEDIA_CHANNELS}
        return live.union(self.media_pending)

    def at_media_capacity(self, starting: Iterable[str] = ()) -> bool:
        """This process carries as many audio-relaying conversations as it was sized for (``MAX_MEDIA_SESSIONS``):
        a new one would degrade every call's audio, so it is turned away instead. ``starting``: more session ids
        being set up that neither the hub nor ``media_pending`` lists."""
        limit = self.settings.max_media_sessions
        if not limit:
            return False
        return len(self.media_sessions().union(starting)) >= limit

    def peer_with_room(self) -> str | None:
        """When this process is at ``MAX_MEDIA_SESSIONS``: the peer URL of another process (worker or replica) that
        is not, the least loaded; ``None`` when every process is full (then the call is turned away as busy)."""
        if self.mirror is None or not self.owners.active:
            return None
        return self.mirror.remote.least_loaded_peer(MEDIA_CHANNELS, self.settings.max_media_sessions)

    def profile(self, name: str | None = None) -> AgentProfile:
        try:
            return self.profiles.get(name or self.agent)
        except KeyError:
            return self.profiles.all()[0]

    def agent_setup(
        self, session_id: str, channel: str, caller: str, profile: AgentProfile, history: list[tuple[str, str]] | None = None
    ) -> AgentSetup:
        readings = self.readings.current()
        ctx = ToolContext(session_id=session_id, store=self.store, channel=channel, caller=caller, readings=readings)
        return AgentSetup(profile=profile, registry=self.registry, tool_context=ctx, settings=self.settings, history=history, readings=readings)

    def realtime_session(self, setup: AgentSetup, audio_format: str = "pcm") -> RealtimeSession:
        if self.realtime is None:
            raise RuntimeError("no Realtime provider configured")
        return RealtimeSession(self.realtime, setup, audio_format=audio_format)
