"""The demo business tools of the three shipped agent profiles (support desk, rent-a-car, vehicle dispatch)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from .. import readings
from ..japan_time import JST
from ..store import MAX_BOOKING, ReservationConflict
from .registry import ToolContext, ToolError, ToolRegistry, ToolResult

VehicleType = Literal["compact", "sedan", "minivan", "suv"]
VEHICLE_NAMES = {"compact": "コンパクトカー", "sedan": "セダン", "minivan": "ミニバン", "suv": "SUV"}


def _parse_moment(value: str, default_time: dt.time) -> dt.datetime:
    value = value.strip().replace("/", "-")
    try:
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", value):
            return dt.datetime.combine(dt.date.fromisoformat(_pad_date(value)), default_time)
        moment = dt.datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        raise ValueError("use an ISO date such as 2026-12-05 or 2026-12-05T10:00") from None
    return moment.replace(tzinfo=None)


def _pad_date(value: str) -> str:
    y, m, d = value.split("-")
    return f"{y}-{int(m):02d}-{int(d):02d}"


def _stop(stop: dict) -> dict:
    """A stop of a driver's schedule, with the arrival time in its spoken form."""
    clean = {k: stop[k] for k in ("seq", "arrive", "destination", "address", "cargo")}
    try:
        clean["arrive_spoken"] = readings.read_time(dt.time.fromisoformat(stop["arrive"]))
    except ValueError:
        pass
    return clean


class NoArgs(BaseModel):
    pass


class CustomerQuery(BaseModel):
    phone_number: str = Field(description="The caller's phone number, digits as heard, e.g. 090-1234-5678")


class Period(BaseModel):
    locationId: str = Field(description="Location id from list_locations, e.g. tokyo-station")
    startDate: str = Field(description="Start, ISO 8601 date or date-time in Japan time, e.g. 2026-12-05T10:00")
    endDate: str = Field(description="Return, ISO 8601 date or date-time in Japan time")
    vehicleType: VehicleType | None = Field(default=None, description="compact, sedan, minivan or suv")

    @field_validator("startDate")
    @classmethod
    def _start(cls, value: str) -> str:
        _parse_moment(value, dt.time(9))
        return value

    @field_validator("endDate")
    @classmethod
    def _end(cls, value: str) -> str:
        _parse_moment(value, dt.time(18))
        return value

    def span(self) -> tuple[dt.datetime, dt.datetime]:
        start, end = _parse_moment(self.startDate, dt.time(9)), _parse_moment(self.endDate, dt.time(18))
        if end <= start:
            raise ToolError("The return time must be after the start time. Please confirm the dates with the caller.")
        if end - start > MAX_BOOKING:
            raise ToolError(f"A rental is at most {MAX_BOOKING.days} days. Please confirm the dates with the caller.")
        return start, end


class ReservationRequest(Period):
    customerName: str = Field(min_length=1, max_length=100, description="The name the reservation is under")


class DriverQuery(BaseModel):
    vehicleNumber: str = Field(description="The 4-digit vehicle number")
    name: str = Field(min_length=1, description="The driver's name as given")


class ScheduleQuery(BaseModel):
    vehicleNumber: str = Field(description="The 4-digit vehicle number of an identified driver")


def register_demo_tools(registry: ToolRegistry) -> None:
    @registry.function(NoArgs)
    async def get_current_time(args: NoArgs, ctx: ToolContext) -> dict:
        """The current date and time in Japan, with the way to read them aloud."""
        now = dt.datetime.now(JST)
        return {"iso": now.isoformat(timespec="minutes"), "date_spoken": readings.read_date(now.date()), "time_spoken": readings.read_time(now)}

    @registry.function(CustomerQuery)
    async def get_customer_info(args: CustomerQuery, ctx: ToolContext) -> ToolResult:
        """Look up a customer by phone number. Confirm the number with the caller first."""
        digits = readings.spoken_digits(args.phone_number)
        if len(digits) < 10:
            raise ToolError(f"'{args.phone_number}' is not a complete phone number. Please ask for it again.")
        customer = await ctx.store.find_customer(digits)
        if customer is None:
            return ToolResult({"found": False, "phone_spoken": readings.read_phone(digits, ctx.readings.phone_group_separator)})
        return ToolResult(
            {
                "found": True,
                "name": customer["name"],
                "plan": customer["plan"],
                "customer_since": readings.read_date(customer["since"]),
                "note": customer["note"],
                "phone": readings.format_phone(digits),
                "phone_spoken": readings.read_phone(digits, ctx.readings.phone_group_separator),
            },
            next_step="assist",
        )

    @registry.function(NoArgs)
    async def list_locations(args: NoArgs, ctx: ToolContext) -> dict:
        """The rental locations with their ids, addresses and opening hours."""
        locations = await ctx.store.list_locations()
        return {"locations": [{**loc, "hours_spoken": readings.spoken_text(loc["hours"])} for loc in locations]}

    @registry.function(Period)
    async def get_availability(args: Period, ctx: ToolContext) -> ToolResult:
        """Which vehicle types are free at a location for a period, with the daily rate in yen."""
        location = await ctx.store.location(args.locationId)
        if location is None:
            raise ToolError(f"There is no location '{args.locationId}'. Use list_locations.")
        start, end = args.span()
        free = await ctx.store.free_vehicles(args.locationId, start, end, args.vehicleType)
        by_type: dict[str, dict] = {}
        for vehicle in free:
            entry = by_type.setdefault(
                vehicle["vehicle_type"],
                {
                    "type": vehicle["vehicle_type"],
                    "name": VEHICLE_NAMES[vehicle["vehicle_type"]],
                    "model": vehicle["model"],
                    "daily_rate_yen": vehicle["daily_rate"],
                    "daily_rate_spoken": readings.numbers.yen(vehicle["daily_rate"]),
                    "free": 0,
                },
            )
            entry["free"] += 1
        result = {
            "location": location["name"],
            "start_spoken": f"{readings.read_date(start.date())} {readings.read_time(start)}",
            "end_spoken": f"{readings.read_date(end.date())} {readings.read_time(end)}",
            "available": list(by_type.values()),
        }
        return ToolResult(result, next_step="confirm" if by_type else None)

    @registry.function(ReservationRequest)
    async def create_reservation(args: ReservationRequest, ctx: ToolContext) -> ToolResult:
        """Book a vehicle once the caller has confirmed location, times, vehicle type and name."""
        if await ctx.store.location(args.locationId) is None:
            raise ToolError(f"There is no location '{args.locationId}'. Use list_locations.")
        start, end = args.span()
        try:
            booked = await ctx.store.create_reservation(args.locationId, start, end, args.customerName, args.vehicleType, ctx.session_id)
        except ReservationConflict:
            raise ToolError("That vehicle type is no longer free for that time. Offer another type or time.") from None
        number = booked["reservation_number"]
        return ToolResult(
            {
                "reservation_number": number,
                "reservation_number_spoken": readings.read_code(number),
                "vehicle": f"{VEHICLE_NAMES[booked['vehicle']['vehicle_type']]} ({booked['vehicle']['model']})",
                "start_spoken": f"{readings.read_date(start.date())} {readings.read_time(start)}",
                "end_spoken": f"{readings.read_date(end.date())} {readings.read_time(end)}",
            },
            next_step="close",
        )

    @registry.function(DriverQuery)
    async def identify_driver(args: DriverQuery, ctx: ToolContext) -> ToolResult:
        """Check a driver's vehicle number and name."""
        number = readings.spoken_digits(args.vehicleNumber)
        driver = await ctx.store.find_driver(number)
        given = readings.normalize_name(args.name)
        known = (readings.normalize_name(driver["name"]), readings.normalize_name(driver["name_kana"])) if driver else ()
        if not given or not any(given in name for name in known):
            return ToolResult({"identified": False, "vehicle_number_spoken": readings.read_code(number)})
        return ToolResult(
            {"identified": True, "name": driver["name"], "vehicle_number": number, "vehicle_number_spoken": readings.read_code(number)},
            next_step="inform",
        )

    @registry.function(ScheduleQuery)
    async def get_driver_schedule(args: ScheduleQuery, ctx: ToolContext) -> dict:
        """Today's next destination and tomorrow's schedule for an identified driver."""
        number = readings.spoken_digits(args.vehicleNumber)
        if await ctx.store.find_driver(number) is None:
            raise ToolError("Unknown vehicle number. Identify the driver first.")
        today, tomorrow = await ctx.store.driver_stops(number, 0), await ctx.store.driver_stops(number, 1)
        clean = [_stop(s) for s in today]
        return {
            "next_destination": clean[0] if clean else None,
            "today": clean,
            "tomorrow": [_stop(s) for s in tomorrow],
            "tomorrow_date_spoken": readings.read_date((dt.datetime.now(JST) + dt.timedelta(days=1)).date()),
        }
