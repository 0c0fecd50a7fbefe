"""Files: storing what the bot uploads or a user sends, the send* methods for media
(sendPhoto, sendVoice, sendDocument, ...: upload, attach:// or a known file_id) and getFile."""

from __future__ import annotations

import io
import secrets
from typing import Any

from localbotapi.core import Handler, ServerCore
from localbotapi.errors import bad
from localbotapi.formatting import format_text, utf16_len
from localbotapi.state import StoredFile
from localbotapi.values import Upload, as_int, json_copy

_FILE_DIRS = {
    "photo": ("photos", ".jpg"),
    "voice": ("voice", ".oga"),
    "audio": ("music", ".mp3"),
    "document": ("documents", ""),
    "video": ("videos", ".mp4"),
    "video_note": ("video_notes", ".mp4"),
    "sticker": ("stickers", ".webp"),
    "animation": ("animations", ".mp4"),
}
# Which stored file kinds may be re-sent by file_id through which send method.
_COMPATIBLE = {
    "photo": {"photo"},
    "voice": {"voice", "audio"},
    "audio": {"audio", "document"},
    "document": {"document", "audio", "video", "animation", "voice"},
    "video": {"video", "document", "animation"},
    "video_note": {"video_note"},
    "sticker": {"sticker"},
    "animation": {"animation", "document", "video"},
}


class FileMethods(ServerCore):
    """The file store, sendPhoto/Voice/Audio/Document/Video/VideoNote/Sticker/Animation,
    getFile."""

    def _store_file(
        self,
        kind: str,
        data: bytes,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        meta: dict[str, Any] | None = None,
        uploaded_by_bot: bool = False,
    ) -> StoredFile:
        self._file_counter += 1
        folder, ext = _FILE_DIRS.get(kind, ("documents", ""))
        if not ext and file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1][:8]
        rel = f"{folder}/file_{self._file_counter}{ext}"
        path = self.files_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        prefix = {"photo": "AgAC", "voice": "AwAC", "document": "BQAC", "video": "BAAC"}
        stored = StoredFile(
            file_id=prefix.get(kind, "CAAC") + "Ag" + secrets.token_urlsafe(40),
            file_unique_id="AQAD" + secrets.token_urlsafe(9),
            kind=kind,
            path=path,
            file_path=rel,
            file_size=len(data),
            mime_type=mime_type,
            file_name=file_name,
            uploaded_by_bot=uploaded_by_bot,
            meta=dict(meta or {}),
        )
        self.files[stored.file_id] = stored
        return stored

    def _photo_sizes(self, stored: StoredFile) -> list[dict[str, Any]]:
        """PhotoSize array: a 90px thumbnail (if Pillow can read it) plus the original."""
        width = height = 0
        sizes: list[dict[str, Any]] = []
        try:
            from PIL import Image

            with Image.open(io.BytesIO(stored.read_bytes())) as img:
                width, height = img.size
                if max(width, height) > 90:
                    thumb = img.convert("RGB")
                    thumb.thumbnail((90, 90))
                    buf = io.BytesIO()
                    thumb.save(buf, "JPEG")
                    small = self._store_file(
                        "photo", buf.getvalue(), meta={"width": thumb.width,
                                                       "height": thumb.height}
                    )
                    sizes.append(small.as_object())
        except Exception:  # not an image Pillow knows: Telegram would still accept it
            pass
        stored.meta.update({"width": width, "height": height})
        sizes.append(stored.as_object())
        for size in sizes:
            self._photo_groups[size["file_id"]] = sizes
        return sizes

    def _media(self, kind: str) -> Handler:
        async def handler(params: dict[str, Any], files: dict[str, Upload]) -> Any:
            return await self._send_media(kind, params, files)

        return handler

    def _resolve_file(
        self, kind: str, params: dict[str, Any], files: dict[str, Upload]
    ) -> tuple[StoredFile, bool]:
        """The file being sent: a fresh upload (True) or a known file_id (False)."""
        upload = files.get(kind)
        value = params.get(kind)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value[len("attach://"):])
            if upload is None:
                raise bad(f"file must be non-empty (attach {value} not found)")
        if upload is not None:
            if not upload.data:
                raise bad("file must be non-empty")
            mime = upload.content_type
            if kind == "voice":
                mime = "audio/ogg"
            meta: dict[str, Any] = {}
            for key in ("duration", "width", "height", "length", "title", "performer"):
                if params.get(key) not in (None, ""):
                    val = params[key]
                    meta[key] = str(val) if key in ("title", "performer") else as_int(val, key)
            if kind in ("voice", "audio", "video", "video_note", "animation"):
                meta.setdefault("duration", 0)
            if kind in ("video", "animation"):
                meta.setdefault("width", 0)
                meta.setdefault("height", 0)
            if kind == "video_note":
                meta.setdefault("length", 240)
            if kind == "sticker":
                meta.update({"type": "regular", "width": 512, "height": 512,
                             "is_animated": False, "is_video": False})
            stored = self._store_file(
                kind, upload.data, mime_type=mime, file_name=upload.filename,
                meta=meta, uploaded_by_bot=True,
            )
            self.uploads.append(stored)
            return stored, True
        if not isinstance(value, str) or not value:
            raise bad(f"there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            raise bad("failed to get HTTP URL content")
        stored_file = self.files.get(value)
        if stored_file is None:
            raise bad("wrong file identifier/HTTP URL specified")
        if kind not in _COMPATIBLE.get(stored_file.kind, {stored_file.kind}):
            raise bad(f"can't use file of type {stored_file.kind.title()} as "
                      f"{kind.title()}")
        return stored_file, False

    async def _send_media(
        self, kind: str, params: dict[str, Any], files: dict[str, Upload]
    ) -> Any:
        chat = self._chat_for_bot(params)
        stored, fresh = self._resolve_file(kind, params, files)
        content: dict[str, Any]
        if kind == "photo":
            if fresh:
                sizes = self._photo_sizes(stored)
            else:
                sizes = self._photo_groups.get(stored.file_id, [stored.as_object()])
            content = {"photo": json_copy(sizes)}
        elif kind == "animation":
            obj = {**stored.as_object(), "file_name": stored.file_name or "animation.mp4"}
            content = {"animation": obj, "document": obj}
        else:
            obj = stored.as_object()
            if kind == "document" and "file_name" not in obj:
                obj["file_name"] = stored.file_name or stored.path.name
            content = {kind: obj}
        if kind != "sticker" and params.get("caption"):
            caption, entities = format_text(str(params["caption"]), params, "caption_entities")
            if utf16_len(caption) > 1024:
                raise bad("message caption is too long")
            if caption:
                content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        return self._record_bot_message(chat, kind, content, params)

    async def _get_file(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        stored = self.files.get(str(params.get("file_id", "")))
        if stored is None:
            raise bad("invalid file_id")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": stored.file_size, "file_path": stored.file_path}
