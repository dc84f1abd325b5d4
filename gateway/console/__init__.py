"""The presenter console: live sessions across channels, their transcripts and latencies, history, and controls."""

from .blueprint import create_console_blueprint
from .feed import FeedConfig

__all__ = ["FeedConfig", "create_console_blueprint"]
