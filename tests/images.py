"""Image files made in the test, with Pillow (or by hand where Pillow would not help).

Every file that must be refused is built to be refused for one reason only, so a
test that sees it refused knows why.
"""

from __future__ import annotations

import os
import struct
import zlib
from io import BytesIO

from PIL import ExifTags, Image, ImageDraw

MB = 1024 * 1024


def _picture(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue (so a rotation can be seen), with some noise."""
    image = Image.new(mode, size, "red")
    draw = ImageDraw.Draw(image)
    draw.rectangle((size[0] // 2, 0, size[0], size[1]), fill="blue")
    return image


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.Model] = "Leaky 3000"
    exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (37.0, 33.0, 59.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (126.0, 58.0, 41.0)
    return exif


def png(size: tuple[int, int] = (300, 200), mode: str = "RGBA") -> bytes:
    out = BytesIO()
    _picture(size, mode).save(out, "PNG", exif=exif_with_gps())
    return out.getvalue()


def noisy_png(size: tuple[int, int] = (256, 256)) -> bytes:
    """Random pixels: large, incompressible IDAT data (for the truncated-file case)."""
    out = BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, "PNG")
    return out.getvalue()


def jpeg(size: tuple[int, int] = (300, 200), orientation: int = 1) -> bytes:
    """A JPEG with camera EXIF, GPS coordinates and an orientation tag."""
    out = BytesIO()
    _picture(size).save(out, "JPEG", quality=90, exif=exif_with_gps(orientation))
    return out.getvalue()


def gif(size: tuple[int, int] = (200, 300)) -> bytes:
    """An animated, palette GIF with transparency."""
    frames = [_picture(size).convert("P"), Image.new("RGB", size, "green").convert("P")]
    out = BytesIO()
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0, transparency=0
    )
    return out.getvalue()


def webp(size: tuple[int, int] = (320, 240)) -> bytes:
    out = BytesIO()
    _picture(size, "RGBA").save(out, "WEBP", quality=90, exif=exif_with_gps())
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def pixel_flood_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width`` x ``height`` zero pixels: kilobytes that decode to gigabytes.

    Written by hand, row by row through zlib, because Pillow would need the whole
    bitmap in memory (one byte per pixel) to save it.
    """
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    compressed = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", compressed)
        + _png_chunk(b"IEND", b"")
    )


def not_an_image() -> bytes:
    return b"This is a shopping list, not a picture.\nmilk\neggs\n" * 20


def sized_file(size: int) -> bytes:
    """``size`` bytes that start like a PNG (the signature does not make them one)."""
    return b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8)
