"""Photos sent with an issue: checked to be real JPEG, PNG or WebP images (by their
content, not their name), at most MAX_BYTES; their EXIF time and position kept; a smaller
JPEG made for phones."""

from __future__ import annotations

import datetime as dt
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from geo.errors import N_, BadRequest, NotFound
from geo.models import PhotoFile
from geo.validate import storable_id

MAX_BYTES = 10 * 1024 * 1024
MAX_PHOTOS = 3
DISPLAY_SIZE = 1280
# Enough for any phone camera; a "photo" beyond it is a decompression bomb.
MAX_PIXELS = 100_000_000
# MPO is how Pillow names the multi-picture JPEGs many phones write (HDR, depth).
FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class Photo:
    content_type: str
    data: bytes
    display: bytes
    width: int
    height: int
    taken_at: dt.datetime | None
    lonlat: tuple[float, float] | None

    def columns(self) -> dict[str, Any]:
        """The PhotoFile columns of a stored copy."""
        return {"content_type": self.content_type, "data": self.data, "display": self.display, "width": self.width,
                "height": self.height, "size": len(self.data), "taken_at": self.taken_at}


def read_photos(files: Sequence[tuple[str, bytes]]) -> list[Photo]:
    """Every file (name, bytes) checked, or a BadRequest for the first that is not a photo."""
    if len(files) > MAX_PHOTOS:
        raise BadRequest(N_("at most %(n)s photos"), code="too_many_photos", n=MAX_PHOTOS)
    return [read_photo(data, name) for name, data in files]


def read_photo(data: bytes, name: str = "") -> Photo:
    label = name[:80] or "photo"
    if len(data) > MAX_BYTES:
        raise BadRequest(N_("%(name)s is larger than %(mb)s MB"), code="photo_too_large", name=label,
                         mb=MAX_BYTES // (1024 * 1024))
    if not data:
        raise BadRequest(N_("%(name)s is empty"), code="invalid_photo", name=label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise BadRequest(N_("%(name)s is not a JPEG, PNG or WebP photo"), code="invalid_photo", name=label)
            if image.width * image.height > MAX_PIXELS:
                raise BadRequest(N_("%(name)s has too many pixels"), code="invalid_photo", name=label)
            image.load()  # decodes the whole image: a truncated or fake file fails here
    except BadRequest:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise BadRequest(N_("%(name)s is not a JPEG, PNG or WebP photo"), code="invalid_photo", name=label) from None
    exif = image.getexif()
    return Photo(
        content_type=FORMATS[image.format],
        data=data,
        display=_display_copy(image),
        width=image.width,
        height=image.height,
        taken_at=_taken_at(exif),
        lonlat=_position(exif),
    )


def _display_copy(image: Image.Image) -> bytes:
    upright = ImageOps.exif_transpose(image)
    upright.thumbnail((DISPLAY_SIZE, DISPLAY_SIZE))
    if upright.mode not in ("RGB", "L"):
        background = Image.new("RGB", upright.size, "white")
        background.paste(upright, mask=upright.convert("RGBA").getchannel("A"))
        upright = background
    out = io.BytesIO()
    upright.save(out, "JPEG", quality=80, optimize=True)
    return out.getvalue()


def _taken_at(exif: Image.Exif) -> dt.datetime | None:
    # Cameras write local time without a zone: it is the county's time.
    raw = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
    try:
        local = dt.datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except (TypeError, ValueError):
        return None
    return local.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _position(exif: Image.Exif) -> tuple[float, float] | None:
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    try:
        lat = _degrees(gps[ExifTags.GPS.GPSLatitude], gps.get(ExifTags.GPS.GPSLatitudeRef, "N"), "S")
        lon = _degrees(gps[ExifTags.GPS.GPSLongitude], gps.get(ExifTags.GPS.GPSLongitudeRef, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None
    return lon, lat


def _degrees(value: tuple[float, float, float], ref: str, negative: str) -> float:
    degrees, minutes, seconds = (float(v) for v in value)
    sign = -1 if str(ref).strip("\x00 ").upper() == negative else 1
    return sign * (degrees + minutes / 60 + seconds / 3600)


def stored(session: Session, model: type[PhotoFile], owned: ColumnElement[bool], photo_id: int,
           display: bool) -> tuple[str, bytes]:
    """A stored photo's type and bytes (the phone-sized JPEG, or the original), if it is
    `photo_id` and `owned` holds for it; the caller has already checked that the user may
    read its owner."""
    column = model.display if display else model.data
    row = session.execute(
        select(model.content_type, column).where(model.id == photo_id, owned)
    ).first() if storable_id(photo_id) else None
    if row is None:
        raise NotFound(N_("no photo with id %(id)s"), id=photo_id)
    return ("image/jpeg" if display else row[0]), row[1]
