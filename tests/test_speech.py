"""Every question is spoken; speech is cached and uploaded once; voice answers are kept on
disk. gTTS is reached only through a fake endpoint on localhost."""

from __future__ import annotations

import hashlib

from bot.state.crypto import read_kept
from bot.state.models import Answer
from tests.fake_gtts import FakeGtts, record_spoken
from tests.harness import Harness, texts
from voice import probe_audio, to_voice_ogg


def read(path: str) -> bytes:
    return read_kept(path)  # kept files are encrypted at rest


def voices(messages: list) -> list:  # type: ignore[type-arg]
    return [m for m in messages if m.kind == "voice"]


async def test_questions_are_spoken_synthesised_once_and_uploaded_once(
        hs: Harness, fake_gtts: FakeGtts) -> None:
    h = hs
    assert h.runner is not None and h.runner.media is not None
    speech = h.runner.media.speech
    assert speech is not None
    synthesised = record_spoken(speech)
    people = [await h.join(1001, "Sam"), await h.join(1002, "Noor")]
    for person in people:
        out = await h.tap(person, "➡️ Beginnen")
        assert [m.kind for m in out] == ["photo", "voice"], "the card with the question"
        for answer in ["Tekenen", "Luisteren"]:
            await h.say(person, answer)
            await h.tap(person, "➡️ Verder")
        await h.say(person, "Wonen")
        await h.tap(person, "➡️ Nee, verder")
        await h.tap(person, "🔁 Nog eens horen")  # the voice comes again
    sent = [m for person in people for m in voices(person.messages)]
    assert len(sent) >= 12
    assert synthesised and len(synthesised) == len(set(synthesised)), "synthesised twice"
    assert fake_gtts.calls >= len(synthesised)  # all through the fake endpoint
    uploads = [f for f in h.server.uploads if f.as_object().get("file_id") in {
        m.file_id for m in sent}]
    assert len(uploads) == len({m.file_id for m in sent}), "a clip uploaded twice"
    for upload in uploads:
        data = upload.read_bytes()
        assert data.startswith(b"OggS") and b"OpusHead" in data
        duration, _mime = probe_audio(data)
        assert duration > 0


async def test_speech_service_down_text_still_arrives(hs: Harness, fake_gtts: FakeGtts) -> None:
    h = hs
    fake_gtts.mode = "error"
    sam = await h.join(1001, "Sam")
    out = await h.tap(sam, "➡️ Beginnen")
    assert "Waar ben jij goed in?" in texts(out)
    assert out[0].kind == "photo" and out[0].buttons  # the card, its question and buttons
    # espeak-ng stands in when it is installed; otherwise text and picto go out alone.
    assert len(voices(out)) <= 1


async def test_voice_answer_is_kept_on_disk_and_played_back(hs: Harness) -> None:
    h = hs
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    from tests.fake_gtts import make_mp3

    clip = to_voice_ogg(make_mp3(seconds=2.0), "mp3")
    out = await h.act(sam, sam.send_voice(clip.ogg, duration=2))
    assert "Dank je voor je spraakbericht." in texts(out)
    (answer,) = await h.rows(Answer)
    assert answer.file_state == "kept" and answer.file_path is not None
    assert read(answer.file_path) == clip.ogg
    assert answer.checksum == hashlib.sha256(clip.ogg).hexdigest()
    assert answer.file_size == len(clip.ogg)

    await h.stop_bot()
    await h.start_bot()  # a restart keeps it
    out = await h.act(sam, sam.send_command("/lijst"))
    assert "[spraakbericht, 0:02]" in texts(out)
    out = await h.tap(sam, "▶️ 0:02")
    assert [m.kind for m in out if m.kind == "voice"] == ["voice"]
    assert out[-1].file_id == answer.file_id
    assert read(answer.file_path) == clip.ogg


async def test_a_file_that_cannot_be_downloaded_is_still_recorded(hs: Harness) -> None:
    h = hs
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    h.server.fail_next("getFile", error_code=400, description="Bad Request: file is too big")
    out = await h.act(sam, sam.send_voice(b"OggS" + b"\0" * 100, duration=300))
    assert "Je bericht is te groot om te bewaren." in texts(out)
    (answer,) = await h.rows(Answer)
    assert answer.file_state == "not_kept" and answer.file_id
    out = await h.act(sam, sam.send_command("/lijst"))
    assert "[spraakbericht, 5:00] (niet bewaard)" in texts(out)


async def test_speech_can_be_turned_off_and_slowed(hs: Harness) -> None:
    h = hs
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    out = await h.act(sam, sam.send_command("/instellingen"))
    assert "🔇 Niet meer voorlezen" in [b for m in out for b in m.button_texts()]
    assert "Ik lees alles voor." in texts(out) and len(voices(out)) == 1
    await h.tap(sam, "🔇 Niet meer voorlezen")
    settings = [m for m in sam.messages if m.content.startswith("Je instellingen")][-1]
    assert "🔊 Wel voorlezen" in settings.button_texts() and settings.edited
    assert "Ik lees niets voor." in settings.content
    out = await h.tap(sam, "🔁 Nog eens horen")
    assert voices(out) == [] and "Waar ben jij goed in?" in texts(out)
    await h.tap(sam, "🔊 Wel voorlezen")
    await h.tap(sam, "🐢 Langzaam voorlezen")
    out = await h.tap(sam, "🔁 Nog eens horen")
    assert len(voices(out)) == 1
    from bot.state.models import DialogSession

    (session,) = await h.rows(DialogSession)
    assert session.data["speech"] is True and session.data["slow"] is True
