"""Real-service test harness: a private Mosquitto and a PostgreSQL database per test session."""

from tests.harness.errors import ServiceUnavailableError

__all__ = ["ServiceUnavailableError"]
