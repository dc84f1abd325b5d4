"""The campaigns API the console's Campaigns view and ``voice-gateway campaign run`` use: create a campaign from a
CSV call list, follow its progress and rows, pause and resume it, export it as CSV (UTF-8 with a BOM).

Either credential opens it: ``Authorization: Bearer <API_TOKEN>`` (scripts, the CLI) or the console's (its login
cookie or ``Bearer <CONSOLE_TOKEN>``): a campaign calls people, so nothing here is public."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from quart import Blueprint, Response, jsonify, request

from channels.telephony.outbound import OutboundCalls
from gateway.api import bearer
from gateway.api_auth import api_error, api_token_refusal
from gateway.console.auth import COOKIE, ConsoleAuth
from gateway.guard import request_client
from gateway.services import Gateway
from gateway.store.campaigns import PAGE_DEFAULT, PAGE_MAX, CampaignSpec

from .call_list import CallListError, parse_call_list
from .export import csv_chunks
from .hours import CallingHours, opens_at
from .runner import RunnerTiming
from .service import Campaigns

logger = logging.getLogger(__name__)
MAX_ROWS = 10_000
CAMPAIGN_ID = re.compile(r"cmp-[0-9a-f]{12}")


class CampaignRequest(BaseModel):
    """What the console's form and the CLI send."""

    model_config = ConfigDict(extra="forbid")
    call_list: str = Field(min_length=1, description="the CSV's text")
    name: str = Field(default="", max_length=200)
    agent: str | None = None
    carrier: str | None = None
    concurrency: int = Field(default=2, ge=1, le=50)
    retries: int = Field(default=2, ge=0, le=10)
    retry_delay_s: float = Field(default=300.0, ge=0, le=86400)
    hours: str | None = "09:00-20:00"  # None: any time
    days: str = "mon-fri"
    tz: str = "Asia/Tokyo"
    skip_lines: list[int] = Field(default_factory=list, max_length=MAX_ROWS)  # rows a stopped CLI run already has


def page_of(args: Any) -> tuple[int, int]:
    """``?offset=&limit=`` as numbers (limit 1 to PAGE_MAX, default PAGE_DEFAULT); ValueError says what is wrong."""
    try:
        offset, limit = int(args.get("offset", 0)), int(args.get("limit", PAGE_DEFAULT))
    except ValueError:
        raise ValueError("offset and limit are whole numbers") from None
    if offset < 0 or not 1 <= limit <= PAGE_MAX:
        raise ValueError(f"offset is at least 0 and limit from 1 to {PAGE_MAX}")
    return offset, limit


def with_opening(summary: dict[str, Any]) -> dict[str, Any]:
    """A campaign's summary with ``opens_at``: when a running campaign outside its calling hours dials again."""
    return {**summary, "opens_at": opens_at(summary, dt.datetime.now(dt.UTC))}


def create_campaigns_blueprint(
    gw: Gateway, outbound: OutboundCalls, console: ConsoleAuth, timing: RunnerTiming | None = None
) -> Blueprint:
    """``console``: the console's own ``ConsoleAuth`` (one throttle of failed attempts for both blueprints)."""
    bp = Blueprint("campaigns", __name__)
    campaigns = Campaigns(gw, outbound, timing)
    bp.campaigns = campaigns  # type: ignore[attr-defined]  # the app resumes them at start-up; tests read it

    @bp.before_request
    async def require_credentials() -> tuple[Response, int] | None:
        given = bearer(request.headers.get("Authorization"))
        client = request_client(request, gw.proxies)
        if console.enabled and given is None and request.cookies.get(COOKIE) is not None:  # the console's page
            refusal = await console.check(None, request.cookies.get(COOKIE), client)
            return None if refusal is None else api_error(refusal.status, refusal.error, detail=refusal.detail)
        missing_token = api_token_refusal(gw)
        if missing_token is None or not console.enabled or given is None:
            return missing_token
        refusal = await console.check(given, None, client)  # the console's token as a bearer (its throttle applies)
        if refusal is None:
            return None
        return api_error(refusal.status, refusal.error, detail=refusal.detail) if refusal.status == 429 else missing_token

    @bp.post("/api/campaigns")
    async def create() -> tuple[Response, int]:
        try:
            body = CampaignRequest.model_validate(await request.get_json(silent=True) or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            return api_error(400, f"{'.'.join(str(p) for p in first['loc']) or 'body'}: {first['msg']}")
        try:
            hours = CallingHours.parse(body.hours, body.days, body.tz) if body.hours else None
            call_list = parse_call_list(body.call_list)
        except (CallListError, ValueError, KeyError) as exc:  # ZoneInfo raises KeyError for an unknown zone
            return api_error(400, str(exc).strip("'\""))
        if len(call_list.prospects) + len(call_list.bad_rows) > MAX_ROWS:
            return api_error(400, f"a call list has at most {MAX_ROWS} rows")
        bad_rows = [{"line": b.line, "raw": b.raw, "reason": b.reason} for b in call_list.bad_rows]
        agent = body.agent or gw.agent
        if agent not in gw.profiles.names():
            return api_error(400, f"agent {agent[:64]!r} names no profile", agents=gw.profiles.names())
        carrier = body.carrier or (next(iter(outbound.dialers)) if len(outbound.dialers) == 1 else None)
        if carrier not in outbound.dialers:
            return api_error(400, f"carrier: choose one of the configured carriers ({', '.join(outbound.dialers) or 'none'})")
        if not [p for p in call_list.prospects if p.line not in body.skip_lines]:
            return api_error(400, "no row of this call list can be dialled", bad_rows=bad_rows)
        spec = CampaignSpec(
            body.name or "campaign", agent, carrier, body.concurrency, body.retries, body.retry_delay_s,
            f"{hours.start:%H:%M}-{hours.end:%H:%M}" if hours else None, body.days, body.tz,
        )
        campaign_id = await campaigns.create(spec, call_list, frozenset(body.skip_lines))
        dialled = sum(1 for p in call_list.prospects if p.line not in body.skip_lines)
        return jsonify(id=campaign_id, prospects=dialled, bad_rows=bad_rows), 201

    @bp.get("/api/campaigns")
    async def listing() -> tuple[Response, int]:
        return jsonify(campaigns=[with_opening(c) for c in await campaigns.records.list()]), 200

    @bp.url_value_preprocessor
    def known_shape(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        """A campaign id is ours or it is no campaign: nothing else reaches the store or a file name."""
        if values and "campaign_id" in values and not CAMPAIGN_ID.fullmatch(values["campaign_id"]):
            values["campaign_id"] = "cmp-000000000000"

    @bp.get("/api/campaigns/<campaign_id>")
    async def detail(campaign_id: str) -> tuple[Response, int]:
        """The campaign's counts and one page of its rows (``?offset=&limit=``; ``total`` says how many there are)."""
        try:
            offset, limit = page_of(request.args)
        except ValueError as exc:
            return api_error(400, str(exc))
        found = await campaigns.records.summary(campaign_id)
        if found is None:
            return api_error(404, "no such campaign")
        rows = await campaigns.records.rows(campaign_id, offset, limit)
        return jsonify(**with_opening(found), rows=rows, offset=offset, limit=limit), 200

    @bp.post("/api/campaigns/<campaign_id>/pause")
    async def pause(campaign_id: str) -> tuple[Response, int]:
        return await _change(campaign_id, campaigns.pause, "paused")

    @bp.post("/api/campaigns/<campaign_id>/resume")
    async def resume(campaign_id: str) -> tuple[Response, int]:
        return await _change(campaign_id, campaigns.resume, "resumed")

    async def _change(campaign_id: str, change: Any, done: str) -> tuple[Response, int]:
        if await campaigns.records.summary(campaign_id) is None:
            return api_error(404, "no such campaign")
        if not await change(campaign_id):
            return api_error(409, "this campaign is finished")
        logger.info("campaign %s %s", campaign_id, done)
        changed = await campaigns.records.summary(campaign_id)
        return jsonify(with_opening(changed) if changed else None), 200

    @bp.get("/api/campaigns/<campaign_id>/export.csv")
    async def export(campaign_id: str) -> Response | tuple[Response, int]:
        if await campaigns.records.summary(campaign_id) is None:
            return api_error(404, "no such campaign")
        pages = csv_chunks(lambda offset, limit: campaigns.records.rows(campaign_id, offset, limit))
        response = Response(pages, mimetype="text/csv")
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = f'attachment; filename="{campaign_id}.csv"'
        response.headers["Cache-Control"] = "no-store"
        return response

    return bp
