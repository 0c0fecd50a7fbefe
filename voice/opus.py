"""Convert any decodable audio to a Telegram voice message: Ogg container, Opus, mono 48 kHz."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # PyAV (FFmpeg) is large: loaded on the first conversion, not at import
    import av

log = logging.getLogger(__name__)

OPUS_RATE = 48_000  # Opus only takes 8/12/16/24/48 kHz; 48 kHz is what Telegram clients record
OPUS_BITRATE = 32_000  # plenty for one speaking voice, keeps clips small


@dataclass(frozen=True)
class VoiceClip:
    ogg: bytes
    duration: float  # seconds; Telegram's sendVoice wants it


class ConversionError(ValueError):
    """The input audio could not be decoded or encoded."""


def to_voice_ogg(audio: bytes, fmt: str | None = None) -> VoiceClip:
    """Decode `audio` (container `fmt`, e.g. "mp3"/"wav"; None = probe) into Ogg/Opus."""
    import av.error

    try:
        return _convert(audio, fmt)
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise ConversionError(f"cannot convert {fmt or 'audio'} to Ogg/Opus: {exc}") from exc


def _convert(audio: bytes, fmt: str | None) -> VoiceClip:
    import av

    out_buf = io.BytesIO()
    samples = 0
    with (
        av.open(io.BytesIO(audio), mode="r", format=fmt) as src,
        av.open(out_buf, mode="w", format="ogg") as dst,
    ):
        if not src.streams.audio:
            raise ConversionError("no audio stream in input")
        stream = dst.add_stream("libopus", rate=OPUS_RATE, layout="mono")
        stream.bit_rate = OPUS_BITRATE
        stream.options = {"application": "voip"}  # tuned for speech
        resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE)
        for frame in _frames(src):
            for out in resampler.resample(frame):
                samples += out.samples
                dst.mux(stream.encode(out))
        for out in resampler.resample(None):  # drain the resampler's delay
            samples += out.samples
            dst.mux(stream.encode(out))
        dst.mux(stream.encode(None))  # flush the encoder
    if samples == 0:
        raise ConversionError("input decoded to zero samples")
    return VoiceClip(ogg=out_buf.getvalue(), duration=samples / OPUS_RATE)


def _frames(src: av.container.InputContainer) -> Iterator[av.AudioFrame]:
    """Decoded frames, skipping undecodable packets.

    gTTS joins the MP3s of a long text's parts byte by byte; a tag or header in the
    middle would otherwise abort the whole clip.
    """
    import av.error

    stream = src.streams.audio[0]
    skipped = 0
    for packet in src.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            skipped += 1
    if skipped:
        log.debug("skipped %d undecodable packets", skipped)


def join_voice(clips: list[bytes]) -> VoiceClip:
    """One voice message of Ogg/Opus clips (ours: same rate and layout) one after the
    other. The packets are copied, not decoded and encoded again: joining a new sentence
    to sentences spoken before costs a few milliseconds instead of a new conversion."""
    import av
    import av.error

    out_buf = io.BytesIO()
    end: int | None = None  # where the clips so far end, in the stream's time base (1/48000)
    start = 0  # where the first clip starts (Opus's pre-skip makes it negative)
    try:
        with av.open(out_buf, mode="w", format="ogg") as dst:
            stream = None
            for clip in clips:
                with av.open(io.BytesIO(clip), mode="r") as src:
                    source = src.streams.audio[0]
                    if stream is None:
                        stream = dst.add_stream_from_template(source)
                    shift: int | None = None
                    for packet in src.demux(source):
                        if packet.pts is None:  # the demuxer's empty packet at the end
                            continue
                        if shift is None:  # this clip's first packet goes where the last ended
                            shift = 0 if end is None else end - packet.pts
                            start = packet.pts if end is None else start
                        packet.pts += shift
                        packet.dts = packet.pts
                        end = packet.pts + (packet.duration or 0)
                        packet.stream = stream
                        dst.mux(packet)
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise ConversionError(f"cannot join voice clips: {exc}") from exc
    if end is None or end <= start:
        raise ConversionError("joined clips hold no audio")
    return VoiceClip(ogg=out_buf.getvalue(), duration=(end - max(start, 0)) / OPUS_RATE)
