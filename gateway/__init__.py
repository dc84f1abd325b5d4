"""Multi-channel voice gateway: phone (ACS) and browser callers, one shared agent."""

__version__ = "0.1.0"
