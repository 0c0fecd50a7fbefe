"""Text-to-speech engines: gTTS (online, primary) and espeak-ng (offline, fallback)."""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit


class SpeechError(RuntimeError):
    """An engine could not produce audio (network down, timeout, bad answer, no binary)."""


@runtime_checkable
class Synthesizer(Protocol):
    """One speech engine. `lang` and `speed()` go into the cache key with `name`."""

    name: str
    lang: str

    def speed(self, slow: bool) -> str:
        """A short tag for the speaking rate used, part of the cache key."""
        ...

    def synthesize(self, text: str, slow: bool) -> tuple[bytes, str]:
        """Return (audio bytes, container format such as "mp3" or "wav")."""
        ...


def _rebased_gtts(text: str, base_url: str | None, **kwargs: Any) -> Any:
    """A gTTS whose requests go to `base_url` instead of translate.google.<tld>.

    Rewriting the prepared requests per instance is safer than patching the
    module-level `_translate_url`, which would redirect every gTTS in the process.
    gTTS (and requests) are imported here: a bot with speech off never loads them.
    """
    from gtts import gTTS

    class RebasedGTTS(gTTS):
        def _prepare_requests(self) -> list[Any]:
            prepared: list[Any] = super()._prepare_requests()
            if base_url:
                for request in prepared:
                    request.prepare_url(_rebase(request.url, base_url), None)
            return prepared

    return RebasedGTTS(text, **kwargs)


def _rebase(url: str, base_url: str) -> str:
    """Keep the path of `url` but take scheme and host from `base_url`."""
    src, base = urlsplit(url), urlsplit(base_url)
    path = base.path.rstrip("/") + src.path
    return urlunsplit((base.scheme, base.netloc, path, src.query, ""))


class GttsSynthesizer:
    """Google Translate TTS via gTTS; returns MP3.

    `timeout` is a deadline for the whole text: gTTS alone applies it per HTTP request
    (and long texts are split into several requests), so each part gets what is left.
    """

    name = "gtts"

    def __init__(
        self,
        lang: str = "nl",
        tld: str = "nl",
        timeout: float = 4.0,
        base_url: str | None = None,
    ) -> None:
        self.lang = lang
        self.tld = tld
        self.timeout = timeout
        self.base_url = base_url

    def speed(self, slow: bool) -> str:
        return "slow" if slow else "normal"

    def synthesize(self, text: str, slow: bool) -> tuple[bytes, str]:
        deadline = time.monotonic() + self.timeout
        try:
            # lang_check=False: the language list is not worth a network round trip.
            tts = _rebased_gtts(
                text,
                self.base_url,
                tld=self.tld,
                lang=self.lang,
                slow=slow,
                lang_check=False,
                timeout=self.timeout,
            )
            buf = io.BytesIO()
            for part in tts.stream():
                buf.write(part)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SpeechError(f"gTTS: over the {self.timeout:.1f}s deadline")
                tts.timeout = remaining  # read by stream() before the next request
        except SpeechError:
            raise
        except Exception as exc:  # gTTSError, AssertionError (empty text), requests errors
            raise SpeechError(f"gTTS via {self._host()} failed: {exc}") from exc
        audio = buf.getvalue()
        if not audio:
            raise SpeechError("gTTS returned no audio")
        return audio, "mp3"

    def _host(self) -> str:
        return self.base_url or f"translate.google.{self.tld}"


class EspeakSynthesizer:
    """espeak-ng through its binary; robotic but offline and instant. Returns WAV."""

    name = "espeak-ng"

    def __init__(
        self,
        voice: str = "nl",
        speed: int = 150,
        slow_speed: int = 110,
        timeout: float = 10.0,
        binary: str = "espeak-ng",
    ) -> None:
        self.voice = voice
        self.lang = voice
        self.words_per_minute = speed
        self.slow_words_per_minute = slow_speed
        self.timeout = timeout
        self.binary = binary

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def speed(self, slow: bool) -> str:
        return str(self.slow_words_per_minute if slow else self.words_per_minute)

    def synthesize(self, text: str, slow: bool) -> tuple[bytes, str]:
        if not text.strip():
            raise SpeechError("espeak-ng: no text to speak")
        exe = shutil.which(self.binary)
        if exe is None:
            raise SpeechError(f"espeak-ng: binary {self.binary!r} not found")
        # Text via stdin: no quoting issues and no risk of text being read as an option.
        cmd = [exe, "-v", self.voice, "-s", self.speed(slow), "--stdout", "--stdin"]
        try:
            done = subprocess.run(
                cmd, input=text.encode("utf-8"), capture_output=True, timeout=self.timeout
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SpeechError(f"espeak-ng failed: {exc}") from exc
        if done.returncode != 0 or not done.stdout.startswith(b"RIFF"):
            err = done.stderr.decode("utf-8", "replace").strip()
            raise SpeechError(f"espeak-ng exit {done.returncode}: {err}")
        return done.stdout, "wav"
