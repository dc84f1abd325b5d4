"""Booking against a calendar: the interface the booking tools speak to, the store's own appointment book (the
default), and the ICS file of each booking."""

from .calendar import Booking, Calendar, Slot, SlotTaken, UnknownSlot
from .store_book import OpeningHours, StoreCalendar

__all__ = ["Booking", "Calendar", "OpeningHours", "Slot", "SlotTaken", "StoreCalendar", "UnknownSlot"]
