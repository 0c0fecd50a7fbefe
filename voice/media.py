"""Inspect audio/video the client sends (Telegram voice messages, video notes)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # PyAV (FFmpeg) is large: loaded on the first probe, not at import
    import av

# ffmpeg demuxer names (comma-separated lists) -> MIME type Telegram would use.
_MIME_BY_FORMAT = {
    "ogg": "audio/ogg",
    "mov": "video/mp4",
    "mp4": "video/mp4",
    "m4a": "audio/mp4",
    "matroska": "video/webm",
    "webm": "video/webm",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
}


class MediaError(ValueError):
    """The bytes are not a playable audio/video file."""


def probe_audio(source: str | Path | bytes) -> tuple[float, str]:
    """Return (duration in seconds, MIME type); raise MediaError for unreadable input."""
    import av
    import av.error

    label = "bytes" if isinstance(source, bytes) else str(source)
    target = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        with av.open(target, mode="r") as container:
            mime = _mime(container.format.name, has_video=bool(container.streams.video))
            if not container.streams.audio and not container.streams.video:
                raise MediaError(f"{label}: no audio or video stream")
            duration = _duration(container)
    except MediaError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"{label}: not a readable audio/video file ({exc})") from exc
    if duration <= 0:
        raise MediaError(f"{label}: zero-length media")
    return duration, mime


def _mime(format_name: str, has_video: bool) -> str:
    for name in format_name.split(","):
        if name in _MIME_BY_FORMAT:
            mime = _MIME_BY_FORMAT[name]
            if mime == "video/mp4" and not has_video:
                return "audio/mp4"
            return mime
    return "application/octet-stream"


def _duration(container: av.container.InputContainer) -> float:
    """Header duration when present; otherwise decode the audio and count samples."""
    import av

    if container.duration is not None and container.duration > 0:
        return float(container.duration / av.time_base)
    if not container.streams.audio:
        return 0.0
    stream = container.streams.audio[0]
    samples = 0
    rate = stream.rate or 0
    for frame in container.decode(stream):
        samples += frame.samples
        rate = frame.sample_rate or rate
    return samples / rate if rate else 0.0
