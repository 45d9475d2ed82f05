"""Recognise an uploaded audio file's format from its first bytes.

Only the content counts. The client's file name and content type are whatever the client chose
to send (a phone may call an AAC recording ``.mp3``; an attacker may call anything ``.wav``), so
they are never consulted - the API does not even pass them here. The checks are deliberately a
little stricter than a bare magic number (valid MPEG header fields, an audio codec inside Ogg,
an audio brand in an ISO media file) so that an image or a video is refused up front rather
than after a failed decode.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from cloud.uploads.errors import UnsupportedAudioError

# How many leading bytes the sniffer wants: enough for an Ogg first page with a long segment
# table (27 + 255 bytes) and for the largest layer III frame (1441 bytes) plus the next header.
SNIFF_BYTES = 4096


class AudioFormat(StrEnum):
    """A supported upload format; the value is the canonical file extension."""

    WAV = "wav"
    MP3 = "mp3"
    M4A = "m4a"
    OGG = "ogg"
    FLAC = "flac"

    @property
    def extension(self) -> str:
        return self.value


SUPPORTED_FORMATS = ", ".join(fmt.name for fmt in AudioFormat)

# ISO base media ("ftyp") brands under which phones and encoders write AAC audio. Video or image
# brands (avc1, heic, qt  ...) are left out on purpose: a photo or a film is not a recording.
# M4P (DRM-protected iTunes audio) is left out because it cannot be decoded.
M4A_BRANDS = frozenset(
    {b"M4A ", b"M4B ", b"mp41", b"mp42", b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"dash"}
    | {b"3gp4", b"3gp5", b"3gp6"}
)

# Layer III bitrates in kbit/s by bitrate index; index 0 is "free format", 15 is invalid.
_MPEG1_L3_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_L3_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
# Sample rates by version bits (3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5; 1 is reserved).
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


class _MpegHeader(NamedTuple):
    version: int
    sample_rate: int
    frame_length: int | None  # None for free-format streams, whose length the header omits


def sniff_audio_format(head: bytes) -> AudioFormat:
    """The format of a file that starts with ``head`` (ideally ``SNIFF_BYTES`` long).

    Raises ``UnsupportedAudioError`` naming the supported formats when nothing matches.
    """
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return AudioFormat.WAV
    if head.startswith(b"fLaC"):
        return AudioFormat.FLAC
    if head.startswith(b"OggS"):
        return _sniff_ogg(head)
    if _is_id3v2(head):
        # The tag may hide anything behind it; libsndfile skips it and looks again, so an
        # ID3-prefixed FLAC still decodes. Calling it MP3 only picks the decoder family.
        return AudioFormat.MP3
    if _is_mpeg_layer3(head):
        return AudioFormat.MP3
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _sniff_iso_media(head)
    raise _unsupported("the content is not a recognised audio file")


def _unsupported(detail: str) -> UnsupportedAudioError:
    return UnsupportedAudioError(f"{detail}; supported audio formats: {SUPPORTED_FORMATS}")


def _sniff_ogg(head: bytes) -> AudioFormat:
    # The first page (27-byte header, then a segment table) starts with the codec's
    # identification packet: "\x01vorbis" or "OpusHead". Theora video, Speex, Ogg FLAC and
    # the rest are refused here, not after a failed decode.
    if len(head) >= 27 and head[4] == 0 and head[5] & 0x02:  # version 0, beginning of stream
        packet_start = 27 + head[26]
        packet = head[packet_start : packet_start + 8]
        if packet.startswith((b"\x01vorbis", b"OpusHead")):
            return AudioFormat.OGG
    raise _unsupported("the Ogg stream carries neither Vorbis nor Opus audio")


def _is_id3v2(head: bytes) -> bool:
    # "ID3", major version 2-4, a revision below 0xFF, and a 28-bit "synchsafe" size whose four
    # bytes each keep the top bit clear - three bytes of text alone do not make a tag.
    return (
        len(head) >= 10
        and head.startswith(b"ID3")
        and head[3] in (2, 3, 4)
        and head[4] != 0xFF
        and all(byte < 0x80 for byte in head[6:10])
    )


def _is_mpeg_layer3(head: bytes) -> bool:
    first = _parse_mpeg_header(head[:4])
    if first is None:
        return False
    # Two bytes of 0xFFFx happen by chance; when the buffer reaches the next frame, it must
    # start with a matching header too (what decoders call "resync" confidence).
    if first.frame_length is None or len(head) < first.frame_length + 4:
        return True
    second = _parse_mpeg_header(head[first.frame_length : first.frame_length + 4])
    return (
        second is not None
        and second.version == first.version
        and second.sample_rate == first.sample_rate
    )


def _parse_mpeg_header(header: bytes) -> _MpegHeader | None:
    """A valid MPEG audio layer III frame header, or None."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 0x03
    layer = (header[1] >> 1) & 0x03
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 0x03
    # layer bits 01 = layer III (00 is reserved, which also rules out AAC's ADTS headers).
    if version == 1 or layer != 1 or bitrate_index == 15 or rate_index == 3:
        return None
    if header[3] & 0x03 == 2:  # reserved emphasis
        return None
    sample_rate = _MPEG_RATES[version][rate_index]
    if bitrate_index == 0:
        return _MpegHeader(version, sample_rate, None)
    kbps = (_MPEG1_L3_KBPS if version == 3 else _MPEG2_L3_KBPS)[bitrate_index]
    samples_per_frame = 1152 if version == 3 else 576
    padding = (header[2] >> 1) & 0x01
    frame_length = samples_per_frame // 8 * kbps * 1000 // sample_rate + padding
    return _MpegHeader(version, sample_rate, frame_length)


def _sniff_iso_media(head: bytes) -> AudioFormat:
    box_size = int.from_bytes(head[:4], "big")
    # major brand (8..12), minor version (12..16), then compatible brands up to the box's end.
    brands = [head[8:12]]
    end = min(box_size, len(head)) if box_size >= 16 else 16
    brands += [head[offset : offset + 4] for offset in range(16, end - 3, 4)]
    if any(brand in M4A_BRANDS for brand in brands):
        return AudioFormat.M4A
    shown = ", ".join(repr(brand.decode("latin-1")) for brand in brands)
    raise _unsupported(f"the ISO media file has no audio brand ({shown})")
