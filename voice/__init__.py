"""Speech for Gespreksmaatje: text -> Telegram voice clip (OGG/Opus), cached on disk.

No imports from `bot`: the bot asks `SpeechCache.clip(text)` and stores the Telegram
file_id per `CachedClip.key` itself.
"""

from voice.cache import CachedClip, SpeechCache, SpeechStats
from voice.media import MediaError, probe_audio
from voice.opus import ConversionError, VoiceClip, to_voice_ogg
from voice.tts import (
    EspeakSynthesizer,
    GttsSynthesizer,
    SpeechError,
    Synthesizer,
)

__all__ = [
    "CachedClip",
    "ConversionError",
    "EspeakSynthesizer",
    "GttsSynthesizer",
    "MediaError",
    "SpeechCache",
    "SpeechError",
    "SpeechStats",
    "Synthesizer",
    "VoiceClip",
    "probe_audio",
    "to_voice_ogg",
]
