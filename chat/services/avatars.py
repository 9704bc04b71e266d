"""Avatar images: checking an upload, making its thumbnail, storing it, and the defaults.

An upload is judged by its bytes, never by its file name or declared type: Pillow
must recognise it as PNG, JPEG, GIF or WebP, decode it completely (a truncated file
fails here) and have no more pixels than ``AVATAR_MAX_PIXELS`` (checked from the
header, before anything is decoded, so a small file that inflates to gigabytes is
refused cheaply). What is stored is never the upload itself but a fresh square
WebP drawn from its pixels: EXIF (GPS included), XMP, comments and colour profiles
cannot survive that, and nothing the sender crafted reaches another browser.

The file is named after the SHA-256 of its content, so its URL never changes
meaning and can be cached for a year; identical pictures share one file.

Users without a photo get a generated SVG of their initials on a colour chosen
from their id (stable across renames); the initials travel in the URL, so a rename
gives a new URL and no cache can show the old initials.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, TypeVar

from flask import current_app
from markupsafe import escape
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import exists, select

from ..errors import Invalid, TooLarge
from ..extensions import db
from ..models import Profile

log = logging.getLogger(__name__)

ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
URL_PREFIX = "/avatars"
STORED_NAME = re.compile(r"^[0-9a-f]{64}\.webp$")
# White text on each of these has a WCAG contrast ratio of at least 4.5:1.
PALETTE = (
    "#1f5fbf",
    "#b3261e",
    "#0b7a4b",
    "#6a3fa0",
    "#a34700",
    "#00727a",
    "#8e2470",
    "#4a5a6a",
    "#2e6b1f",
    "#9c3d54",
    "#3949ab",
    "#795200",
)
# Enough for two user-perceived characters, even emoji built of several code points.
MAX_INITIALS_BYTES = 64

T = TypeVar("T")


# ---- URLs ---------------------------------------------------------------------


def avatar_url(user_id: uuid.UUID, display_name: str, stored: str | None) -> str:
    """Where a user's avatar is served: their thumbnail, or their generated default."""
    if stored:
        return f"{URL_PREFIX}/{stored}"
    return default_avatar_url(user_id, display_name)


# A pure function of its arguments, asked once per message of a history page (every
# message names its sender): cached, it costs a dict lookup (docs/performance.md).
@lru_cache(maxsize=4096)
def default_avatar_url(user_id: uuid.UUID, display_name: str) -> str:
    token = base64.urlsafe_b64encode(initials(display_name).encode()).decode().rstrip("=")
    return f"{URL_PREFIX}/default/{colour_index(user_id)}/{token}.svg"


def colour_index(user_id: uuid.UUID) -> int:
    return user_id.int % len(PALETTE)


def initials(display_name: str) -> str:
    """The first character of the first and last words (one word gives one character).

    "Ada Lovelace" gives "AL", "김민수" gives "김", "🦊 Fox" gives "🦊F".
    """
    words = display_name.split()
    if not words:
        return "?"
    picked = [_first_grapheme(words[0])]
    if len(words) > 1:
        picked.append(_first_grapheme(words[-1]))
    return "".join(g.upper() if len(g.upper()) == len(g) else g for g in picked)


def _first_grapheme(word: str) -> str:
    """The first user-perceived character, near enough for initials.

    Keeps what draws as one glyph with its base: combining marks, variation
    selectors, skin tones, zero-width-joined emoji and flag pairs.
    """
    end = 2 if len(word) > 1 and _is_flag_letter(word[0]) and _is_flag_letter(word[1]) else 1
    while end < len(word):
        char = word[end]
        code = ord(char)
        if (
            unicodedata.category(char).startswith("M")
            or 0xFE00 <= code <= 0xFE0F
            or 0x1F3FB <= code <= 0x1F3FF
        ):
            end += 1
        elif code == 0x200D and end + 1 < len(word):  # zero-width joiner + the next glyph
            end += 2
        else:
            break
    return word[:end]


def _is_flag_letter(char: str) -> bool:
    """A regional indicator: two of them draw as one flag."""
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def decode_initials(token: str) -> str | None:
    """The initials a default-avatar URL carries, or None if it is not one we make."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,88}", token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if not text or len(raw) > MAX_INITIALS_BYTES:
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in text):
        return None
    return text


def default_avatar_svg(colour: int, text: str) -> str:
    """The generated avatar: ``text`` (escaped) centred on a palette colour."""
    fill = PALETTE[colour % len(PALETTE)]
    size = 120 if len(text) <= 1 else 104
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" '
        'viewBox="0 0 256 256">'
        f'<rect width="256" height="256" fill="{fill}"/>'
        '<text x="128" y="128" dy=".35em" text-anchor="middle" fill="#ffffff" '
        "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans KR', "
        f'sans-serif" font-size="{size}" font-weight="600">{escape(text)}</text>'
        "</svg>"
    )


# ---- uploads ------------------------------------------------------------------


def avatar_folder() -> Path:
    """``UPLOAD_FOLDER/avatars``; a relative UPLOAD_FOLDER is taken from the instance folder."""
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    if not folder.is_absolute():
        folder = Path(current_app.instance_path) / folder
    return folder / "avatars"


def read_upload(stream: BinaryIO) -> bytes:
    """The upload's bytes, refusing (413) anything over ``AVATAR_MAX_BYTES``."""
    limit = int(current_app.config["AVATAR_MAX_BYTES"])
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"An avatar can be at most {limit // (1024 * 1024)} MB.")
    return data


def store_upload(stream: BinaryIO) -> str:
    """Check an uploaded image, store its thumbnail, and return the stored file's name.

    Raises ``Invalid`` (400) for anything that is not a whole, reasonably sized PNG,
    JPEG, GIF or WebP image, and ``TooLarge`` (413) past the byte limit; nothing is
    written then.
    """
    data = read_upload(stream)
    config = current_app.config
    try:
        thumbnail = _off_the_event_loop(
            make_thumbnail, data, int(config["AVATAR_SIZE"]), int(config["AVATAR_MAX_PIXELS"])
        )
    except Invalid as error:
        # Logged here, not on the worker thread (logging's locks are gevent's there).
        log.info("avatar refused (%s): %r", error.code, error.__cause__)
        raise
    name = f"{hashlib.sha256(thumbnail).hexdigest()}.webp"
    folder = avatar_folder()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        # Written aside and renamed: a reader never sees half a file.
        partial = folder / f".{name}.{secrets.token_hex(8)}.part"
        partial.write_bytes(thumbnail)
        os.replace(partial, target)
    return name


def forget(name: str | None) -> None:
    """Delete a stored thumbnail once no profile uses it (identical pictures share a file)."""
    if not name or not STORED_NAME.match(name):
        return
    in_use = db.session.scalar(select(exists().where(Profile.avatar == name)))
    if not in_use:
        (avatar_folder() / name).unlink(missing_ok=True)


def make_thumbnail(data: bytes, size: int, max_pixels: int) -> bytes:
    """A ``size`` x ``size`` WebP of the picture in ``data``, without any of its metadata.

    Pure (no app, no I/O), so that it can run on a worker thread.
    """
    try:
        return _thumbnail(data, size, max_pixels)
    except Invalid:
        raise
    except Image.DecompressionBombError:
        raise Invalid(_too_many_pixels(max_pixels), code="image_too_large") from None
    except UnidentifiedImageError:
        raise Invalid(
            "The file is not a PNG, JPEG, GIF or WebP image.", code="not_an_image"
        ) from None
    except Exception as error:
        # Untrusted bytes: whatever a decoder raises on them is the file's fault, not ours.
        raise Invalid("The image is damaged or incomplete.", code="broken_image") from error


def _too_many_pixels(max_pixels: int) -> str:
    return f"The image has too many pixels (at most {max_pixels // 1_000_000} megapixels)."


def _thumbnail(data: bytes, size: int, max_pixels: int) -> bytes:
    if not data:
        raise Invalid("The file is empty.", code="not_an_image")
    with Image.open(BytesIO(data), formats=ACCEPTED_FORMATS) as probe:
        width, height = probe.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise Invalid(_too_many_pixels(max_pixels), code="image_too_large")
        probe.verify()  # checksums and structure (PNG), before any pixel is decoded
    with Image.open(BytesIO(data), formats=ACCEPTED_FORMATS) as image:
        # JPEG only: decode at the smallest 1/2, 1/4 or 1/8 scale still at least ``size``.
        image.draft(None, (size, size))
        image.load()  # a truncated file fails here (LOAD_TRUNCATED_IMAGES stays off)
        picture = ImageOps.exif_transpose(image)  # a phone photo keeps its orientation
    picture = _to_srgb(picture)
    mode = "RGBA" if _has_alpha(picture) else "RGB"
    if picture.mode.startswith("I") or picture.mode == "F":
        picture = picture.convert("L")  # 16-bit and float greyscale
    picture = picture.convert(mode)
    square = ImageOps.fit(picture, (size, size), method=Image.Resampling.LANCZOS)
    # A new image has an empty ``info``: no EXIF, XMP, ICC or comment can be carried over.
    clean = Image.new(mode, (size, size))
    clean.paste(square)
    out = BytesIO()
    clean.save(out, "WEBP", quality=85, method=4)
    return out.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info


def _to_srgb(image: Image.Image) -> Image.Image:
    """Apply an embedded colour profile (Display P3 photos, say) before it is dropped."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        from PIL import ImageCms

        converted = ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(BytesIO(icc)),
            ImageCms.createProfile("sRGB"),
            outputMode=image.mode,
        )
    except Exception:
        return image  # a broken profile only costs colour accuracy
    return converted or image


def _off_the_event_loop(function: Callable[..., T], *args: object) -> T:
    """Run CPU-heavy image work on a native thread when serving under gevent.

    Decoding and resizing a 5 MB photo takes tens to hundreds of milliseconds; on the
    gevent hub that would stall every socket of the process (missed pings, late
    pushes). Pillow releases the GIL while it decodes, resizes and encodes, so a
    thread keeps the hub serving meanwhile. Without gevent it simply runs here.
    """
    try:
        from gevent import get_hub, monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return function(*args)
    if not monkey.is_module_patched("threading"):
        return function(*args)
    return get_hub().threadpool.apply(function, args)
