"""The upload exception family.

Every class derives from ``UploadError(ValueError)``: each one means "the client sent something
we will not keep", so the route can translate the whole family to one 400 response (the app
contract's "bad file format") and let anything else surface as a 500.
"""

from __future__ import annotations


class UploadError(ValueError):
    """Base class for everything raised on purpose about an uploaded audio file."""


class UnsupportedAudioError(UploadError):
    """The content is not one of the supported audio formats (judged by its bytes, not its name)."""


class EmptyUploadError(UploadError):
    """The upload contained no bytes at all."""


class UploadTooLargeError(UploadError):
    """The upload exceeded the configured size limit; nothing of it was kept."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        super().__init__(f"audio upload is larger than the {megabytes(limit_bytes)} MB limit")


class AudioTooLongError(UploadError):
    """The recording lasts longer than the configured maximum duration."""

    def __init__(self, max_seconds: float, duration_s: float | None = None) -> None:
        self.max_seconds = max_seconds
        self.duration_s = duration_s
        measured = f" ({duration_s:.1f} s)" if duration_s is not None else ""
        super().__init__(f"audio is longer than the {max_seconds:g} s limit{measured}")


class CorruptAudioError(UploadError):
    """The content looked like a supported format but the decoder could not read it."""


def megabytes(size_bytes: int) -> str:
    """A byte count in MB (MiB, as nginx counts ``client_max_body_size``): "25", "2.5", "0.0095"."""
    size_mb = size_bytes / (1024 * 1024)
    return f"{size_mb:.1f}".removesuffix(".0") if size_mb >= 1 else f"{size_mb:.2g}"
