"""One booking as an iCalendar file (RFC 5545): what a prospect's or a sales rep's calendar app imports.

Times are local to Asia/Tokyo (``DTSTART;TZID=Asia/Tokyo``, with the VTIMEZONE that RFC 5545 requires for a TZID;
Japan has no daylight saving, so one STANDARD block at +0900 is the whole zone). DTSTAMP is UTC. A cancelled
booking is the same event (same UID) with ``METHOD:CANCEL``, ``STATUS:CANCELLED`` and a higher SEQUENCE, so the
calendar app removes it. Lines end in CRLF and are folded at 75 octets without splitting a UTF-8 character.
"""

from __future__ import annotations

import datetime as dt

from .calendar import Booking

PRODID = "-//voice-gateway//appointments//JA"
UID_DOMAIN = "voice-gateway.appointments"
MAX_OCTETS = 75


def escape(text: str) -> str:
    """TEXT value escaping (RFC 5545 3.3.11): backslash, semicolon, comma and newlines."""
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """A content line folded into chunks of at most 75 octets, continuation lines starting with a space."""
    out: list[str] = []
    current, size, limit = "", 0, MAX_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = "", 0, MAX_OCTETS - 1  # the leading space counts
        current += char
        size += width
    out.append(current)
    return "\r\n ".join(out)


def _local(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def booking_ics(booking: Booking, summary: str, description: str = "") -> str:
    """The VCALENDAR of ``booking``; ``summary``/``description``: the event's title and text as the profile says."""
    cancelled = booking.status == "cancelled"
    stamp = booking.stamp or dt.datetime.now(dt.UTC)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{'CANCEL' if cancelled else 'PUBLISH'}",
        "BEGIN:VTIMEZONE",
        "TZID:Asia/Tokyo",
        "BEGIN:STANDARD",
        "DTSTART:19700101T000000",
        "TZOFFSETFROM:+0900",
        "TZOFFSETTO:+0900",
        "TZNAME:JST",
        "END:STANDARD",
        "END:VTIMEZONE",
        "BEGIN:VEVENT",
        f"UID:{booking.id}@{UID_DOMAIN}",
        f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART;TZID=Asia/Tokyo:{_local(booking.slot.start)}",
        f"DTEND;TZID=Asia/Tokyo:{_local(booking.slot.end)}",
        f"SUMMARY:{escape(summary)}",
    ]
    if description:
        lines.append(f"DESCRIPTION:{escape(description)}")
    lines += [
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        f"SEQUENCE:{1 if cancelled else 0}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)
