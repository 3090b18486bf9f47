"""Upload validation: only real, fully decodable images of the allowed formats reach the model.

The format is read from the content (never the file name or the declared type), the pixel
count from the header before decoding, and what is forwarded is a fresh PNG of the pixels only.
"""

import hashlib
import io
from dataclasses import dataclass

from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps
from rest_framework import status

from inferapi.errors import ApiError

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


@dataclass(frozen=True)
class ValidatedImage:
    data: bytes
    sha256: str
    size_bytes: int
    format: str
    width: int
    height: int


@dataclass(frozen=True)
class UploadFacts:
    """What is known of an upload before and while it is validated, for the audit."""

    sha256: str
    size_bytes: int


def invalid_image(detail: str) -> ApiError:
    return ApiError(status_code=status.HTTP_400_BAD_REQUEST, code="invalid_image", detail=detail)


def image_too_large(detail: str) -> ApiError:
    return ApiError(
        status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, code="image_too_large", detail=detail
    )


def unsupported_media_type() -> ApiError:
    return ApiError(
        status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        code="unsupported_media_type",
        detail="The file is not a supported image: send JPEG, PNG, WebP, GIF or BMP.",
    )


def looks_like_allowed_image(data: bytes) -> bool:
    is_webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return is_webp or data.startswith(SIGNATURES)


def upload_read(upload: UploadedFile, *, max_bytes: int) -> bytes:
    if upload.size is not None and upload.size > max_bytes:
        raise image_too_large(f"The image is larger than the limit of {max_bytes} bytes.")
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise image_too_large(f"The image is larger than the limit of {max_bytes} bytes.")
    if not data:
        raise invalid_image("The uploaded file is empty.")
    return data


def image_open(data: bytes, *, max_pixels: int) -> Image.Image:
    """Identify the format and check the pixel count from the header, before decoding."""
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError:
        raise image_too_large(f"The image has more than {max_pixels} pixels.") from None
    except Exception:
        if looks_like_allowed_image(data):
            raise invalid_image("The image is damaged and cannot be read.") from None
        raise unsupported_media_type() from None
    width, height = image.size
    if width * height > max_pixels:
        raise image_too_large(f"The image has more than {max_pixels} pixels.")
    if width == 0 or height == 0:
        raise invalid_image("The image has no pixels.")
    return image


def image_decode(image: Image.Image) -> Image.Image:
    """Decode the first frame completely: truncated or corrupt data is refused here."""
    try:
        image.seek(0)
        image.load()
        return ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise image_too_large("The image decodes to too many pixels.") from None
    except Exception:
        # Pillow raises many exception types on hostile input; all of them mean "unreadable".
        raise invalid_image("The image is truncated or damaged and cannot be decoded.") from None


def image_normalise(image: Image.Image) -> Image.Image:
    """Bring every mode to 8-bit L or RGB, transparency composited onto white."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode == "1":
        image = image.convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode not in ("L", "RGB"):
        return image.convert("RGB")
    return image


def image_reencode(image: Image.Image) -> bytes:
    """A PNG of the pixels alone: no EXIF, ICC profile, text chunks or trailing data survive."""
    pixels_only = Image.frombytes(image.mode, image.size, image.tobytes())
    buffer = io.BytesIO()
    pixels_only.save(buffer, format="PNG")
    return buffer.getvalue()


def upload_facts(data: bytes) -> UploadFacts:
    return UploadFacts(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def image_validate(data: bytes, *, max_pixels: int) -> ValidatedImage:
    opened = image_open(data, max_pixels=max_pixels)
    image_format = opened.format
    clean = image_normalise(image_decode(opened))
    return ValidatedImage(
        data=image_reencode(clean),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        format=image_format,
        width=clean.width,
        height=clean.height,
    )
