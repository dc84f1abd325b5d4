"""Phone numbers as people type them (``090-1234-5678``, ``+81 90 1234 5678``) to E.164, with ``phonenumbers``.

A number that is not a valid one is refused with a reason a person can act on, before any carrier is asked.
"""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "JP"
MAX_INPUT_CHARS = 40

_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "the country code is not valid",
    phonenumbers.ValidationResult.TOO_SHORT: "the number is too short",
    phonenumbers.ValidationResult.TOO_LONG: "the number is too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "the number has the wrong number of digits",
}


class InvalidNumber(ValueError):
    """Not a phone number we can dial; the message says why."""


def to_e164(raw: object, region: str = DEFAULT_REGION) -> str:
    """``raw`` as E.164 (``+819012345678``); numbers without a ``+`` are read as numbers of ``region``."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidNumber("a phone number is required")
    if len(raw) > MAX_INPUT_CHARS:
        raise InvalidNumber(f"a phone number has at most {MAX_INPUT_CHARS} characters")
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as exc:
        detail = str(exc).split(") ", 1)[-1]  # "(1) The string supplied…": the library's reason without its code
        raise InvalidNumber(f"not a phone number ({detail})") from None
    if not phonenumbers.is_valid_number(number):
        reason = _REASONS.get(phonenumbers.is_possible_number_with_reason(number), "it is not an assigned number range")
        raise InvalidNumber(f"not a valid phone number: {reason}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
