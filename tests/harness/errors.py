"""Failure of the harness to provide a real service."""


class ServiceUnavailableError(RuntimeError):
    """A required service could not be had; the message says what to install."""
