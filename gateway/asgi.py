"""ASGI entry point for Hypercorn worker processes (``voice-gateway serve --workers N``)."""

from .app import create_app
from .config import Settings
from .logs import configure_logging

_settings = Settings()
configure_logging(_settings.log_level, _settings.log_format)
app = create_app(_settings)
