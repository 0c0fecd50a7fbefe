"""The local Bot API server, driven by a real python-telegram-bot ``Bot``."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardMarkup, Update
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken, RetryAfter
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from localbotapi import BotApiServer, Limits, parse_html

TOKEN = "123456:TEST"
OGG = b"OggS\x00\x02" + bytes(range(256)) * 4


@pytest.fixture
async def server() -> AsyncIterator[BotApiServer]:
    async with BotApiServer(token=TOKEN) as srv:
        yield srv


@pytest.fixture
async def bot(server: BotApiServer) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.file_url) as b:
        yield b


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


async def test_get_me(server: BotApiServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.username == "gespreksmaatje_bot"
    assert me.id == 123456
    assert me.is_bot
    assert server.call_count("getme") >= 1


async def test_long_poll_returns_when_update_arrives(server: BotApiServer, bot: Bot) -> None:
    user = server.user(42, first_name="Anna")
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await server.wait_for(lambda: server.call_count("getUpdates") == 1, 5, "getUpdates call")
    await asyncio.sleep(0)
    assert not poll.done()
    update_id = await user.send_text("/start hallo")
    updates = await asyncio.wait_for(poll, 5)  # far less than the 30 s long-poll timeout
    assert [u.update_id for u in updates] == [update_id]
    msg = updates[0].message
    assert msg is not None and msg.text == "/start hallo"
    assert msg.chat.id == 42 and msg.chat.type == "private"
    assert msg.from_user is not None and msg.from_user.first_name == "Anna"
    assert msg.entities[0].type == "bot_command" and msg.entities[0].length == 6


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    assert await bot.get_updates(timeout=1) == ()


async def test_redelivery_and_confirmation(server: BotApiServer, bot: Bot) -> None:
    user = server.user(7)
    first = await user.send_text("een")
    second = await user.send_text("twee")
    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    assert server.delivery_counts[first] == 2
    updates = await bot.get_updates(offset=first + 1)
    assert [u.update_id for u in updates] == [second]
    await server.wait_until_confirmed(first, timeout=1)
    assert server.confirmed_offset == first + 1
    assert await bot.get_updates(offset=second + 1) == ()
    assert server.pending_updates == []
    # Telegram may deliver the same update again (e.g. after a crash): the bot must cope.
    again = server.inject_update(server.all_updates[1])
    assert again == second
    assert [u.update_id for u in await bot.get_updates()] == [second]
    assert server.delivery_counts[second] == 4
    assert await bot.get_updates(offset=second + 1) == ()  # below the offset: forgotten
    with pytest.raises(AssertionError, match="not confirmed"):
        await server.wait_until_confirmed(second + 1, timeout=0.05)


async def test_inline_keyboard_press_and_answer(server: BotApiServer, bot: Bot) -> None:
    user = server.user(42)
    await user.send_text("/start")
    await bot.get_updates()
    sent = await bot.send_message(42, "Zullen we beginnen?", reply_markup=keyboard(("Ja", "yes")))
    assert sent.reply_markup is not None
    shown = (await user.wait_for_messages(1, timeout=1))[0]
    assert shown.text == "Zullen we beginnen?"
    assert shown.buttons == [[("Ja", "yes")]]
    update_id = await user.press(shown, "Ja")
    updates = await bot.get_updates(offset=update_id)
    query = updates[0].callback_query
    assert query is not None and query.data == "yes"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await query.answer("Top!", show_alert=True)
    answer = await user.wait_for_callback_answer(update_id, timeout=1)
    assert answer.text == "Top!" and answer.show_alert
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await query.answer()
    with pytest.raises(AssertionError, match="no button"):
        await user.press(shown, "Nee")


async def test_text_length_limit(server: BotApiServer, bot: Bot) -> None:
    await server.user(1).send_text("hoi")
    await bot.send_message(1, "x" * 4096)
    with pytest.raises(BadRequest, match="(?i)too long"):
        await bot.send_message(1, "x" * 4097)
    with pytest.raises(BadRequest, match="(?i)text is empty"):
        await bot.send_message(1, "  ")


async def test_callback_data_limit(server: BotApiServer, bot: Bot) -> None:
    await server.user(1).send_text("hoi")
    await bot.send_message(1, "ok", reply_markup=keyboard(("a", "x" * 64)))
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(1, "te lang", reply_markup=keyboard(("a", "x" * 65)))


async def test_html_parse_mode(server: BotApiServer, bot: Bot) -> None:
    user = server.user(1)
    await user.send_text("hoi")
    msg = await bot.send_message(1, "<b>Vet</b> &amp; <i>schuin</i>", parse_mode="HTML")
    assert msg.text == "Vet & schuin"
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [
        ("bold", 0, 3), ("italic", 6, 6)
    ]
    with pytest.raises(BadRequest, match="(?i)can't parse entities: unsupported start tag"):
        await bot.send_message(1, "<foo>x</foo>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)Can't find end tag"):
        await bot.send_message(1, "<b>open", parse_mode="HTML")
    with pytest.raises(ValueError, match="Unmatched end tag"):
        parse_html("<b><i>x</b></i>")


async def test_voice_upload_then_resend_by_file_id(server: BotApiServer, bot: Bot) -> None:
    user = server.user(5)
    await user.send_text("hoi")
    first = await bot.send_voice(5, OGG, duration=3, caption="Luister")
    assert first.voice is not None and first.voice.duration == 3
    second = await bot.send_voice(5, first.voice.file_id)
    assert second.voice is not None
    assert second.voice.file_id == first.voice.file_id
    assert second.voice.file_unique_id == first.voice.file_unique_id
    assert server.upload_count() == 1
    assert server.file_bytes(first.voice.file_id) == OGG
    assert [m.kind for m in user.messages] == ["voice", "voice"]
    assert user.messages[0].caption == "Luister"
    with pytest.raises(BadRequest, match="(?i)wrong file identifier"):
        await bot.send_voice(5, "AwACAgNotAFile")


async def test_photo_upload_has_sizes(server: BotApiServer, bot: Bot) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (400, 300), "red").save(buf, "JPEG")
    await server.user(5).send_text("hoi")
    msg = await bot.send_photo(5, buf.getvalue(), caption="Picto")
    assert [(p.width, p.height) for p in msg.photo] == [(90, 68), (400, 300)]
    again = await bot.send_photo(5, msg.photo[-1].file_id)
    assert again.photo[-1].file_id == msg.photo[-1].file_id


async def test_download_user_voice(server: BotApiServer, bot: Bot) -> None:
    user = server.user(9)
    update_id = await user.send_voice(OGG, duration=4)
    (update,) = await bot.get_updates()
    assert update.update_id == update_id
    assert update.message is not None and update.message.voice is not None
    voice = update.message.voice
    assert voice.duration == 4 and voice.mime_type == "audio/ogg"
    tg_file = await bot.get_file(voice.file_id)
    assert tg_file.file_path is not None and tg_file.file_path.startswith(server.file_url)
    assert bytes(await tg_file.download_as_bytearray()) == OGG


async def test_other_user_media_shapes(server: BotApiServer, bot: Bot) -> None:
    user = server.user(9)
    await user.send_document(b"%PDF-1.4", "plan.pdf", "application/pdf")
    await user.send_video_note(b"mp4", duration=2)
    await user.send_sticker()
    await user.send_animation()
    await user.send_location(52.1, 5.1)
    await user.send_contact("+31612345678", "Piet")
    await user.send_poll("Koffie?", ["ja", "nee"])
    msgs = [u.message for u in await bot.get_updates()]
    assert all(m is not None for m in msgs)
    doc = msgs[0].document if msgs[0] else None
    assert doc is not None and doc.file_name == "plan.pdf"
    assert msgs[1] is not None and msgs[1].video_note is not None
    assert msgs[2] is not None and msgs[2].sticker is not None
    assert msgs[3] is not None and msgs[3].animation is not None
    assert msgs[4] is not None and msgs[4].location is not None
    assert msgs[5] is not None and msgs[5].contact is not None
    assert msgs[6] is not None and msgs[6].poll is not None


async def test_wrong_token(server: BotApiServer) -> None:
    bad = Bot("999:WRONG", base_url=server.base_url, base_file_url=server.file_url)
    with pytest.raises(InvalidToken):
        await bad.get_me()


async def test_unknown_method(server: BotApiServer, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("fooBar")


async def test_edit_and_delete(server: BotApiServer, bot: Bot) -> None:
    user = server.user(3)
    await user.send_text("hoi")
    sent = await bot.send_message(3, "Eerste versie", reply_markup=keyboard(("Ok", "ok")))
    await bot.edit_message_text("Tweede versie", chat_id=3, message_id=sent.message_id)
    shown = user.messages[0]
    assert shown.text == "Tweede versie" and shown.edited
    assert shown.history[0]["text"] == "Eerste versie"
    assert shown.buttons == []  # editing text without reply_markup drops the keyboard
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("Tweede versie", chat_id=3, message_id=sent.message_id)
    await bot.edit_message_reply_markup(3, sent.message_id, reply_markup=keyboard(("A", "a")))
    assert user.messages[0].buttons == [[("A", "a")]]
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=3, message_id=999)
    assert await bot.delete_message(3, sent.message_id)
    assert user.messages[0].deleted
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await bot.delete_message(3, sent.message_id)


async def test_blocked_user_and_unknown_chat(server: BotApiServer, bot: Bot) -> None:
    user = server.user(11)
    with pytest.raises(Forbidden, match="(?i)can't initiate"):
        await bot.send_message(11, "hallo")
    await user.send_text("/start")
    await bot.send_message(11, "hallo")
    update_id = await user.block_bot()
    updates = await bot.get_updates(offset=update_id)
    member = updates[0].my_chat_member
    assert member is not None and member.new_chat_member.status == "kicked"
    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        await bot.send_message(11, "hallo?")
    await user.unblock_bot()
    await bot.send_message(11, "welkom terug")
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(12345, "wie?")


async def test_group_chat(server: BotApiServer, bot: Bot) -> None:
    user = server.user(21)
    group = server.group(-100500, "Team")
    with pytest.raises(Forbidden, match="(?i)not a member"):
        await bot.send_message(-100500, "hoi")
    await group.add_bot(user)
    await group.send_text(user, "hallo groep")
    updates = await bot.get_updates()
    assert updates[0].my_chat_member is not None
    msg = updates[1].message
    assert msg is not None and msg.chat.type == "group" and msg.chat.id == -100500
    await bot.send_message(-100500, "hoi allemaal")
    assert group.texts == ["hoi allemaal"]


async def test_injected_failure(server: BotApiServer, bot: Bot) -> None:
    await server.user(1).send_text("hoi")
    server.fail_next("sendMessage", error_code=429, retry_after=3)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(1, "x")
    retry = info.value.retry_after
    assert (retry if isinstance(retry, int) else retry.total_seconds()) == 3
    await bot.send_message(1, "x")


async def test_events_and_wait_timeout(server: BotApiServer, bot: Bot) -> None:
    user = server.user(1)
    events = server.subscribe()
    await user.send_text("hoi")
    await bot.send_chat_action(1, "typing")
    sent = await bot.send_message(
        1, "Kies", reply_markup=ReplyKeyboardMarkup([["Ja", "Nee"]], one_time_keyboard=True)
    )
    await bot.edit_message_text("Kies maar", chat_id=1, message_id=sent.message_id)
    kinds = []
    while not events.empty():
        kinds.append(events.get_nowait()["type"])
    assert kinds == ["update", "chat_action", "message", "edit"]
    assert user.reply_keyboard == [["Ja", "Nee"]]
    assert user.chat_actions == ["typing"]
    await user.press_keyboard("Ja")
    with pytest.raises(AssertionError, match="expected at least 2 bot message"):
        await user.wait_for_messages(2, timeout=0.05)


async def test_real_application_polling(server: BotApiServer) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"Je zei: {update.effective_message.text}")

    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(server.base_url)
        .base_file_url(server.file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    user = server.user(77)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        update_id = await user.send_text("hallo")
        await user.wait_for_messages(1, timeout=10)
        await server.wait_until_confirmed(update_id, timeout=10)
        await server.wait_idle(quiet=0.1, timeout=10)
        await app.updater.stop()
        await app.stop()
    assert user.texts == ["Je zei: hallo"]


async def test_get_chat_and_document_roundtrip(server: BotApiServer, bot: Bot) -> None:
    user = server.user(5, username="sam")
    await user.send_text("hoi")
    chat = await bot.get_chat(5)
    assert chat.type == "private" and chat.username == "sam"
    doc = await bot.send_document(5, b"%PDF-1.4", filename="plan.pdf", caption="Plan")
    assert doc.document is not None and doc.document.file_name == "plan.pdf"
    tg_file = await bot.get_file(doc.document.file_id)
    assert bytes(await tg_file.download_as_bytearray()) == b"%PDF-1.4"
    edited = await bot.edit_message_caption(5, doc.message_id, caption="Nieuw plan")
    assert edited is not True and user.messages[0].caption == "Nieuw plan"


async def test_stop_releases_pending_long_poll() -> None:
    srv = BotApiServer(token=TOKEN)
    await srv.start()
    poller = Bot(TOKEN, base_url=srv.base_url, base_file_url=srv.file_url)
    poll = asyncio.create_task(poller.get_updates(timeout=30))
    await srv.wait_for(lambda: srv.call_count("getUpdates") == 1, 5, "getUpdates call")
    await srv.stop()
    assert await asyncio.wait_for(poll, 5) == ()


# --- strict Telegram: limits, callback timeout, the bot's errors (raw HTTP) -----------------

TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


async def call(server: BotApiServer, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    """One raw Bot API call: (HTTP status, JSON body)."""
    url = f"{server.base_url}{server.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, json=params) as response:
        return response.status, await response.json()


def too_many(retry_after: int) -> dict[str, Any]:
    return {"ok": False, "error_code": 429,
            "description": f"Too Many Requests: retry after {retry_after}",
            "parameters": {"retry_after": retry_after}}


async def test_limits_burst_per_chat_then_429() -> None:
    limits = Limits(per_chat_burst=3, per_chat_per_second=0.5)
    async with BotApiServer(token=TOKEN, limits=limits) as srv:
        anna, bram = srv.user(1), srv.user(2)
        await anna.send_text("hoi")
        await bram.send_text("hoi")
        for n in range(3):
            status, body = await call(srv, "sendMessage", chat_id=1, text=f"bericht {n}")
            assert status == 200 and body["ok"]
        status, body = await call(srv, "sendMessage", chat_id=1, text="te veel")
        assert status == 429
        assert body == too_many(2)  # one token back after 2 s at 0.5/s
        status, body = await call(srv, "editMessageText", chat_id=1, message_id=1, text="anders")
        assert status == 429 and body["parameters"]["retry_after"] >= 1
        assert anna.texts == ["bericht 0", "bericht 1", "bericht 2"]  # nothing recorded
        # Not rate limited: chat actions, callback answers, getMe, getUpdates.
        for _ in range(5):
            assert (await call(srv, "sendChatAction", chat_id=1, action="typing"))[0] == 200
        assert (await call(srv, "getMe"))[0] == 200
        assert (await call(srv, "getUpdates"))[0] == 200
        # Another chat has its own bucket.
        for n in range(3):
            assert (await call(srv, "sendMessage", chat_id=2, text=f"{n}"))[0] == 200
        assert len(bram.messages) == 3
        assert srv.too_many_requests == 2
        assert srv.too_many_requests_by_chat == {1: 2}
        assert srv.bot_errors == []


async def test_limits_global_bucket() -> None:
    limits = Limits(global_burst=4, global_per_second=0.5)
    async with BotApiServer(token=TOKEN, limits=limits) as srv:
        for chat_id in range(1, 7):
            await srv.user(chat_id).send_text("hoi")
        results = await asyncio.gather(
            *(call(srv, "sendMessage", chat_id=chat_id, text="nieuws") for chat_id in range(1, 7))
        )
        statuses = [status for status, _ in results]
        assert sorted(statuses) == [200, 200, 200, 200, 429, 429]
        refused = [body for status, body in results if status == 429]
        assert all(body == too_many(body["parameters"]["retry_after"]) for body in refused)
        assert all(body["parameters"]["retry_after"] >= 1 for body in refused)
        assert srv.too_many_requests == 2
        assert sum(srv.too_many_requests_by_chat.values()) == 2
        assert sum(len(srv.user(chat_id).messages) for chat_id in range(1, 7)) == 4


async def test_limits_retry_after_then_success(server: BotApiServer) -> None:
    await server.user(1).send_text("hoi")
    for _ in range(5):  # off by default
        assert (await call(server, "sendMessage", chat_id=1, text="vrij"))[0] == 200
    server.set_limits(Limits(per_chat_burst=1, per_chat_per_second=20))
    assert (await call(server, "sendMessage", chat_id=1, text="een"))[0] == 200
    status, body = await call(server, "sendMessage", chat_id=1, text="twee")
    assert status == 429 and body == too_many(1)
    await asyncio.sleep(body["parameters"]["retry_after"])
    assert (await call(server, "sendMessage", chat_id=1, text="twee"))[0] == 200
    server.set_limits(None)
    for _ in range(3):
        assert (await call(server, "sendMessage", chat_id=1, text="weer vrij"))[0] == 200
    assert server.too_many_requests == 1


async def test_callback_window() -> None:
    async with BotApiServer(token=TOKEN, limits=Limits(callback_window=0.2)) as srv:
        user = srv.user(1)
        await user.send_text("hoi")
        markup = {"inline_keyboard": [[{"text": "Ja", "callback_data": "ja"}]]}
        await call(srv, "sendMessage", chat_id=1, text="Kies", reply_markup=markup)
        quick = await user.press(user.last, "Ja")
        late = await user.press(user.last, "Ja")
        _, body = await call(srv, "getUpdates")
        query_ids = {u["update_id"]: u["callback_query"]["id"]
                     for u in body["result"] if "callback_query" in u}
        assert set(query_ids) == {quick, late}
        assert srv.unanswered_callbacks() == [quick, late]
        status, _ = await call(srv, "answerCallbackQuery", callback_query_id=query_ids[quick])
        assert status == 200
        await asyncio.sleep(0.3)
        await call(srv, "getUpdates")  # redelivered: the window still counts from the first
        status, body = await call(srv, "answerCallbackQuery", callback_query_id=query_ids[late])
        assert status == 400
        assert body == {"ok": False, "error_code": 400, "description": TOO_OLD}
        not_fetched = await user.press(user.last, "Ja")
        assert srv.unanswered_callbacks() == [late]  # not_fetched was not handed over yet
        (delay,) = srv.callback_delays()
        assert 0 <= delay < 0.2
        assert srv.bot_errors == [("answerCallbackQuery", 400, TOO_OLD)]
        await call(srv, "getUpdates", offset=late + 1)
        assert srv.unanswered_callbacks() == [late, not_fetched]


async def test_bot_errors(server: BotApiServer) -> None:
    user = server.user(1)
    await user.send_text("hoi")
    await user.send_document(b"%PDF-1.4", "plan.pdf", "application/pdf")
    _, body = await call(server, "getUpdates")
    file_id = body["result"][1]["message"]["document"]["file_id"]
    # Lengths count UTF-16 code units: an emoji is two.
    assert (await call(server, "sendMessage", chat_id=1, text="😀" * 2048))[0] == 200
    assert (await call(server, "sendMessage", chat_id=1, text="x" * 4097))[0] == 400
    assert (await call(server, "sendMessage", chat_id=1, text="😀" * 2049))[0] == 400
    status, _ = await call(server, "sendDocument", chat_id=1, document=file_id,
                           caption="😀" * 512)
    assert status == 200
    status, _ = await call(server, "sendDocument", chat_id=1, document=file_id,
                           caption="😀" * 513)
    assert status == 400
    # Not the bot's mistakes: injected failures, the limits' 429s, getUpdates errors.
    server.fail_next("sendMessage", error_code=500)
    assert (await call(server, "sendMessage", chat_id=1, text="storing"))[0] == 500
    server.set_limits(Limits(per_chat_burst=1, per_chat_per_second=0.5))
    assert (await call(server, "sendMessage", chat_id=1, text="een"))[0] == 200
    assert (await call(server, "sendMessage", chat_id=1, text="twee"))[0] == 429
    await call(server, "setWebhook", url="http://127.0.0.1:9/hook")
    assert (await call(server, "getUpdates"))[0] == 409
    too_long = "Bad Request: message is too long"
    assert server.bot_errors == [
        ("sendMessage", 400, too_long),
        ("sendMessage", 400, too_long),
        ("sendDocument", 400, "Bad Request: message caption is too long"),
    ]
