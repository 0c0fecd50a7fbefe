"""A stand-in for Google Translate's batchexecute TTS endpoint, on localhost.

gTTS POSTs to /_/TranslateWebserverUi/data/batchexecute and scans each response line for
`jQ1olc","[\\"<base64 mp3>\\"]`; we answer in that shape with a real MP3 made by PyAV.
"""

from __future__ import annotations

import array
import base64
import io
import json
import math
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import av


def make_mp3(seconds: float = 0.6, freq: float = 440.0, rate: int = 24_000) -> bytes:
    """A short sine tone as MP3 (24 kHz mono, like Google's answers)."""
    n = int(seconds * rate)
    pcm = array.array("h", (int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)))
    buf = io.BytesIO()
    # No ID3/Xing header: gTTS concatenates parts, and Google sends bare MP3 frames too.
    options = {"id3v2_version": "0", "write_xing": "0"}
    with av.open(buf, mode="w", format="mp3", options=options) as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=n)
        frame.planes[0].update(pcm.tobytes())
        frame.sample_rate = rate
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


class FakeGtts:
    """mode: "ok" (MP3), "error" (HTTP 500) or "hang" (no answer until stop())."""

    def __init__(self, mp3: bytes | None = None) -> None:
        self.mp3 = mp3 if mp3 is not None else make_mp3()
        self.mode = "ok"
        self.calls = 0
        self.texts: list[str] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeGtts:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # let hanging handlers finish
        self._server.shutdown()
        self._server.server_close()

    def body(self) -> bytes:
        b64 = base64.b64encode(self.mp3).decode("ascii")
        inner = json.dumps([b64])  # -> ["...."], escaped once more below like Google does
        compact = (",", ":")  # gTTS's regex expects no spaces after commas
        line = json.dumps(
            [["wrb.fr", "jQ1olc", inner, None, None, None, "generic"]], separators=compact
        )
        return f")]}}'\n\n{len(line)}\n{line}\n".encode()

    def _record(self, path: str, raw: bytes) -> None:
        form = urllib.parse.parse_qs(raw.decode("utf-8"))
        rpc = json.loads(form["f.req"][0])
        with self._lock:
            self.calls += 1
            self.paths.append(path)
            self.texts.append(json.loads(rpc[0][0][1])[0])

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake._record(self.path, raw)
                if fake.mode == "hang":
                    fake._release.wait(30)
                    return
                if fake.mode == "error":
                    self.send_error(500, "upstream broken")
                    return
                body = fake.body()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # keep test output clean

        return Handler


def record_spoken(speech: Any) -> list[str]:
    """Every text the speech pipeline's primary engine is asked to say from now on (the
    engine still says it): which sentences went to gTTS, and under which cache keys."""
    made: list[str] = []
    real = speech.primary.synthesize

    def spy(text: str, slow: bool) -> tuple[bytes, str]:
        result: tuple[bytes, str] = real(text, slow)
        # Counted once said: a clip the start-up warm-up is still making (in a worker
        # thread) is not in the list before its request reached the endpoint.
        made.append(text)
        return result

    speech.primary.synthesize = spy
    return made
