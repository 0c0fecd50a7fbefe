"""Message formatting: parse_mode=HTML the way tdlib parses it (same tag set, same error
messages), UTF-16 lengths, and the parse_mode / entities parameters of a call."""

from __future__ import annotations

import html
import re
from typing import Any

from localbotapi.errors import bad
from localbotapi.values import as_json

_TAGS = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{1,8});")


class EntityParseError(ValueError):
    """Markup that Telegram would refuse with "can't parse entities"."""


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(match: re.Match[str]) -> str | None:
    body = match.group(1)
    if body.startswith("#x"):
        code = int(body[2:], 16)
    elif body.startswith("#"):
        code = int(body[1:])
    else:
        return _NAMED.get(body)
    if code <= 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) or raise EntityParseError like Telegram does."""
    out: list[str] = []
    pos16 = 0
    stack: list[tuple[str, dict[str, str], int]] = []
    entities: list[dict[str, Any]] = []
    attrs: dict[str, str]
    n = len(text)
    i = 0

    def boff(k: int) -> int:
        return len(text[:k].encode("utf-8"))

    def emit(s: str) -> None:
        nonlocal pos16
        out.append(s)
        pos16 += utf16_len(s)

    def skip_spaces(k: int) -> int:
        while k < n and text[k].isspace():
            k += 1
        return k

    while i < n:
        c = text[i]
        if c == "&":
            m = _ENTITY_RE.match(text, i)
            decoded = _decode_entity(m) if m else None
            if m and decoded is not None:
                emit(decoded)
                i = m.end()
            else:
                emit("&")
                i += 1
            continue
        if c != "<":
            emit(c)
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            close = text.find(">", i)
            if close == -1:
                raise EntityParseError(f"Unclosed end tag at byte offset {boff(begin)}")
            name = text[i + 1 : close].strip().lower()
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {boff(begin)}")
            tag, attrs, start = stack.pop()
            if name != tag:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {boff(begin)}, expected "</{tag}>", '
                    f'found "</{name}>"'
                )
            _close_entity(tag, attrs, start, pos16, stack, entities)
            i = close + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {boff(begin)}")
        name = text[i:j].lower()
        if name not in _TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {boff(begin)}')
        attrs = {}
        i = j
        while True:
            i = skip_spaces(i)
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {boff(begin)}")
            if text[i] == ">":
                i += 1
                break
            k = i
            while k < n and (text[k].isalnum() or text[k] in "-_"):
                k += 1
            if k == i:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {boff(i)}'
                )
            attr = text[i:k].lower()
            i = skip_spaces(k)
            if name == "blockquote" and attr == "expandable" and (i >= n or text[i] != "="):
                attrs[attr] = ""
                continue
            if i >= n or text[i] != "=":
                raise EntityParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                    f"at byte offset {boff(i)}"
                )
            i = skip_spaces(i + 1)
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {boff(begin)}")
            if text[i] in "\"'":
                end = text.find(text[i], i + 1)
                if end == -1:
                    raise EntityParseError(
                        f"Unclosed end of attribute value at byte offset {boff(i)}"
                    )
                attrs[attr] = html.unescape(text[i + 1 : end])
                i = end + 1
            else:
                k = i
                while k < n and not text[k].isspace() and text[k] != ">":
                    k += 1
                attrs[attr] = html.unescape(text[i:k])
                i = k
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {boff(begin)}'
            )
        stack.append((name, attrs, pos16))
    if stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_entity(
    tag: str,
    attrs: dict[str, str],
    start: int,
    end: int,
    stack: list[tuple[str, dict[str, str], int]],
    entities: list[dict[str, Any]],
) -> None:
    kind = _TAGS[tag]
    if tag == "code" and stack and stack[-1][0] == "pre":
        lang = attrs.get("class", "")
        if lang.startswith("language-"):
            stack[-1][1]["_language"] = lang[len("language-") :]
            return
    if end <= start:
        return
    entity: dict[str, Any] = {"type": kind, "offset": start, "length": end - start}
    if tag == "a":
        href = attrs.get("href", "")
        if not href:
            return
        if href.startswith("tg://user?id="):
            entity = {**entity, "type": "text_mention", "user": {"id": int(href[13:] or 0)}}
        else:
            entity["url"] = href
    elif tag == "pre" and attrs.get("_language"):
        entity["language"] = attrs["_language"]
    elif tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    entities.append(entity)


def format_text(
    text: str, params: dict[str, Any], entities_key: str
) -> tuple[str, list[dict[str, Any]] | None]:
    """A text or caption as Telegram stores it: the call's parse_mode applied (or its
    ``entities_key`` entities taken), surrounding white space stripped, entities shifted."""
    mode = str(params.get("parse_mode") or "")
    entities: list[dict[str, Any]] | None = None
    if mode.lower() == "html":
        try:
            text, entities = parse_html(text)
        except EntityParseError as err:
            raise bad(f"can't parse entities: {err}") from None
    elif mode and mode.lower() not in ("markdown", "markdownv2"):
        raise bad(f"unsupported parse_mode {mode}")
    elif params.get(entities_key):
        entities = as_json(params[entities_key], f"can't parse {entities_key} JSON object")
    stripped = text.strip()
    if entities and stripped != text:
        shift = utf16_len(text) - utf16_len(text.lstrip())
        limit = utf16_len(stripped)
        fixed = []
        for e in entities:
            start = max(e["offset"] - shift, 0)
            end = min(e["offset"] + e["length"] - shift, limit)
            if end > start:
                fixed.append({**e, "offset": start, "length": end - start})
        entities = fixed
    return stripped, entities or None
