"""``GET /api/appointments/<id>.ics``: a booking's ICS file, and ``GET /api/appointments/<id>``: the booking, both
behind ``Authorization: Bearer <API_TOKEN>``. A call's record (``GET /api/calls/<id>``) lists the bookings the call
made with the path of each file."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify

from ..api_auth import api_error, api_token_refusal
from ..services import Gateway
from .calendar import Booking, Calendar
from .ics import booking_ics
from .store_book import StoreCalendar
from .wording import ics_path, written

SUMMARY = "商談"


def calendar_of(gw: Gateway) -> Calendar:
    return gw.calendar if gw.calendar is not None else StoreCalendar(gw.store)


def booking_dict(booking: Booking) -> dict[str, Any]:
    return {
        "id": booking.id,
        "start": booking.slot.start.isoformat(timespec="minutes"),
        "end": booking.slot.end.isoformat(timespec="minutes"),
        "time_zone": "Asia/Tokyo",
        "written": written(booking.slot),
        "who": booking.who,
        "variables": booking.variables,
        "conversation_id": booking.conversation_id,
        "status": booking.status,
        "ics": ics_path(booking.id),
    }


def ics_text(booking: Booking) -> str:
    """The file: the title names who the meeting is with; the description carries what the call knew of them."""
    company = booking.variables.get("company", "")
    summary = f"{SUMMARY}: {company + ' ' if company else ''}{booking.who}様"
    details = [f"{name}: {value}" for name, value in booking.variables.items()]
    if booking.conversation_id:
        details.append(f"conversation: {booking.conversation_id}")
    return booking_ics(booking, summary, "\n".join(details))


async def appointments_of(gw: Gateway, conversation_id: str) -> list[dict[str, Any]]:
    return [booking_dict(b) for b in await calendar_of(gw).bookings_of(conversation_id)]


def create_appointments_blueprint(gw: Gateway) -> Blueprint:
    bp = Blueprint("appointments", __name__)

    @bp.get("/api/appointments/<booking_id>.ics")
    async def ics_file(booking_id: str) -> Response | tuple[Response, int]:
        if (refusal := api_token_refusal(gw)) is not None:
            return refusal
        booking = await calendar_of(gw).booking(booking_id[:32])
        if booking is None:
            return api_error(404, "no such appointment")
        response = Response(ics_text(booking), 200, content_type="text/calendar; charset=utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="{booking.id}.ics"'
        return response

    @bp.get("/api/appointments/<booking_id>")
    async def appointment(booking_id: str) -> tuple[Response, int]:
        if (refusal := api_token_refusal(gw)) is not None:
            return refusal
        booking = await calendar_of(gw).booking(booking_id[:32])
        if booking is None:
            return api_error(404, "no such appointment")
        return jsonify(booking_dict(booking)), 200

    return bp
