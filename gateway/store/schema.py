"""Tables of the embedded store: conversations and what happened in them, plus the demo business data."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("agent", String(64), nullable=False),
    Column("caller", String(128), nullable=False, default=""),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("outcome", String(64)),
    Column("summary", Text),
    Column("continued_from", String(64)),
    Index("ix_conversations_started", "started_at"),
)

turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), ForeignKey("conversations.id"), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

tool_calls = Table(
    "tool_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), ForeignKey("conversations.id"), nullable=False, index=True),
    Column("call_id", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("arguments", Text, nullable=False),
    Column("result", Text, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

# --- demo business data --------------------------------------------------------------------------------------------
customers = Table(
    "customers",
    metadata,
    Column("phone", String(32), primary_key=True),  # digits only
    Column("name", String(128), nullable=False),
    Column("plan", String(64), nullable=False),
    Column("since", Date, nullable=False),
    Column("note", Text, nullable=False, default=""),
)

locations = Table(
    "locations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("address", String(256), nullable=False),
    Column("hours", String(64), nullable=False),
)

vehicles = Table(
    "vehicles",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("location_id", String(64), ForeignKey("locations.id"), nullable=False, index=True),
    Column("vehicle_type", String(32), nullable=False),
    Column("model", String(128), nullable=False),
    Column("daily_rate", Integer, nullable=False),
)

reservations = Table(
    "reservations",
    metadata,
    Column("number", String(16), primary_key=True),
    Column("vehicle_id", String(64), ForeignKey("vehicles.id"), nullable=False, index=True),
    Column("location_id", String(64), ForeignKey("locations.id"), nullable=False),
    Column("start_at", DateTime, nullable=False),
    Column("end_at", DateTime, nullable=False),
    Column("customer_name", String(128), nullable=False),
    Column("vehicle_type", String(32), nullable=False),
    Column("conversation_id", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One row per vehicle and booked hour: the primary key is what refuses a double booking, in whichever process or
# replica the second booking is attempted (a per-process lock cannot see the others).
reservation_slots = Table(
    "reservation_slots",
    metadata,
    Column("vehicle_id", String(64), ForeignKey("vehicles.id"), primary_key=True),
    Column("slot_start", DateTime, primary_key=True),  # the start of a booked hour
    Column("reservation_number", String(16), ForeignKey("reservations.number"), nullable=False, index=True),
)

drivers = Table(
    "drivers",
    metadata,
    Column("vehicle_number", String(16), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("name_kana", String(128), nullable=False),
)

driver_stops = Table(
    "driver_stops",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vehicle_number", String(16), ForeignKey("drivers.vehicle_number"), nullable=False, index=True),
    Column("day_offset", Integer, nullable=False),  # 0 = today, 1 = tomorrow: the demo stays current on any date
    Column("seq", Integer, nullable=False),
    Column("arrive", String(8), nullable=False),
    Column("destination", String(128), nullable=False),
    Column("address", String(256), nullable=False),
    Column("cargo", String(256), nullable=False),
)

# --- the appointment book (the default calendar of the booking tools; see gateway/appointments/) -------------------
appointments = Table(
    "appointments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("start_at", DateTime, nullable=False, index=True),  # Japan time, naive (as the book's opening hours)
    Column("end_at", DateTime, nullable=False),
    Column("who", String(128), nullable=False),
    Column("variables", Text, nullable=False, default="{}"),  # JSON: the call's variables (company, phone, ...)
    Column("conversation_id", String(64), index=True),
    Column("status", String(16), nullable=False),  # booked, cancelled
    Column("stamp", DateTime(timezone=True), nullable=False),  # the ICS DTSTAMP: when booked or cancelled
)

# One row per booked slot: its primary key refuses a double booking from any process (a cancel frees the slot).
appointment_holds = Table(
    "appointment_holds",
    metadata,
    Column("start_at", DateTime, primary_key=True),
    Column("appointment_id", String(32), ForeignKey("appointments.id"), nullable=False, unique=True),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("code", String(8), primary_key=True),
    Column("conversation_id", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("claimed_by", String(64)),
)

outbound_calls = Table(  # calls placed through POST /api/calls (later: campaigns); the conversation has the same id
    "outbound_calls",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("carrier", String(16), nullable=False),
    Column("to_number", String(32), nullable=False, index=True),
    Column("agent", String(64), nullable=False),
    Column("status", String(32), nullable=False),  # dialling, initiated, ringing, in-progress, then the outcome
    Column("carrier_call_id", String(128)),
    Column("detail", Text, nullable=False, default=""),
    Column("progress", Text, nullable=False, default="[]"),  # JSON list of [ISO time, status]
    Column("sms", String(32), nullable=False, default="pending"),  # after the call: sent, not_due, failed, none
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

sms_messages = Table(  # SMS sent after a call, with the carrier's delivery status
    "sms_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("carrier", String(16), nullable=False),
    Column("to_number", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("message_id", String(128), index=True),
    Column("status", String(32), nullable=False),  # sending, accepted, sent, delivered, failed, undelivered
    Column("detail", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

sms_early_reports = Table(  # delivery reports that came before the carrier's answer to the send named the message
    "sms_early_reports",
    metadata,
    Column("message_id", String(128), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
)

campaigns = Table(  # a call list being dialled: its settings and state, so a restarted gateway resumes it
    "campaigns",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("agent", String(64), nullable=False),
    Column("carrier", String(16), nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("retry_delay_s", Float, nullable=False),
    Column("hours", String(16)),  # "HH:MM-HH:MM"; NULL: any time
    Column("days", String(64), nullable=False, default="mon-fri"),
    Column("tz", String(64), nullable=False, default="Asia/Tokyo"),
    Column("status", String(16), nullable=False),  # running, paused, done
    Column("runner", String(64)),  # the process dialling it now (a lease: one runner per campaign across workers)
    Column("lease_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

campaign_rows = Table(  # one row of a campaign's call list: its state while dialled, then its outcome
    "campaign_rows",
    metadata,
    Column("campaign_id", String(32), ForeignKey("campaigns.id"), primary_key=True),
    Column("line", Integer, primary_key=True),  # the line in the uploaded file
    Column("to_number", String(32), nullable=False, index=True),  # E.164, or the raw text of a bad row
    Column("name", String(128), nullable=False, default=""),
    Column("variables", Text, nullable=False, default="{}"),  # JSON object
    Column("status", String(16), nullable=False),  # pending, calling, done, invalid (never dialled)
    Column("outcome", String(32)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("call_id", String(64)),  # written with the claim, before the carrier is asked: the attempt's id
    Column("duration_s", Float),
    Column("reason", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


live_numbers = Table(  # a number being called by any campaign: its primary key lets the database refuse a second claim
    "live_numbers",
    metadata,
    Column("to_number", String(32), primary_key=True),  # E.164
    Column("campaign_id", String(32), nullable=False),
    Column("line", Integer, nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
)
