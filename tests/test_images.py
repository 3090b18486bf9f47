import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image

from inferapi.errors import ApiError
from inferapi.images import image_validate
from tests.conftest import image_bytes

MAX_PIXELS = 40_000_000


def refusal(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[int, str]:
    with pytest.raises(ApiError) as raised:
        image_validate(data, max_pixels=max_pixels)
    return raised.value.status_code, raised.value.code


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def png_claiming(width: int, height: int) -> bytes:
    """A small, well-formed PNG whose header claims a huge image: a decompression bomb."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_it_accepts_each_allowed_format_by_content(fmt):
    validated = image_validate(image_bytes(fmt), max_pixels=MAX_PIXELS)

    assert validated.format == fmt
    assert (validated.width, validated.height) == (64, 64)
    assert Image.open(io.BytesIO(validated.data)).format == "PNG"


def test_it_hashes_and_measures_the_original_upload():
    data = image_bytes("JPEG")
    validated = image_validate(data, max_pixels=MAX_PIXELS)

    assert validated.sha256 == hashlib.sha256(data).hexdigest()
    assert validated.size_bytes == len(data)


def test_it_refuses_text_as_unsupported_media_type():
    assert refusal(b"hello, this is not an image\n") == (415, "unsupported_media_type")


def test_it_refuses_a_tiff_even_though_pillow_reads_it():
    assert refusal(image_bytes("TIFF")) == (415, "unsupported_media_type")


def test_it_refuses_a_truncated_png_as_invalid_image():
    noisy = Image.effect_noise((300, 300), 64).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    data = buffer.getvalue()
    assert refusal(data[: len(data) // 2]) == (400, "invalid_image")


def test_it_refuses_a_truncated_jpeg_as_invalid_image():
    noisy = Image.effect_noise((300, 300), 64).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, format="JPEG")
    data = buffer.getvalue()
    assert refusal(data[: len(data) // 2]) == (400, "invalid_image")


def test_it_refuses_a_png_header_with_nothing_behind_it():
    assert refusal(b"\x89PNG\r\n\x1a\n") == (400, "invalid_image")


def test_it_refuses_an_image_over_the_pixel_limit_from_its_header():
    assert refusal(png_claiming(100_000, 100_000)) == (413, "image_too_large")


def test_it_refuses_an_image_just_over_a_lower_pixel_limit_before_decoding():
    assert refusal(png_claiming(5_000, 5_000), max_pixels=20_000_000) == (413, "image_too_large")


def test_the_pixel_limit_is_a_setting():
    assert refusal(image_bytes("PNG", size=(100, 100)), max_pixels=9_999) == (
        413,
        "image_too_large",
    )


def test_it_applies_exif_orientation():
    image = Image.new("RGB", (40, 20), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees clockwise
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)

    validated = image_validate(buffer.getvalue(), max_pixels=MAX_PIXELS)

    assert (validated.width, validated.height) == (20, 40)


def test_it_re_encodes_without_metadata():
    image = Image.new("RGB", (32, 32), "white")
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, icc_profile=b"fake-icc-profile")

    clean = Image.open(io.BytesIO(image_validate(buffer.getvalue(), max_pixels=MAX_PIXELS).data))

    assert "exif" not in clean.info
    assert "icc_profile" not in clean.info
    assert b"secret" not in image_validate(buffer.getvalue(), max_pixels=MAX_PIXELS).data


def test_it_composites_transparency_onto_white():
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")

    clean = Image.open(io.BytesIO(image_validate(buffer.getvalue(), max_pixels=MAX_PIXELS).data))

    assert clean.mode == "RGB"
    assert clean.getpixel((0, 0)) == (255, 255, 255)


def test_it_scales_a_16_bit_png_to_8_bits():
    image = Image.new("I;16", (8, 8), 65535)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")

    clean = Image.open(io.BytesIO(image_validate(buffer.getvalue(), max_pixels=MAX_PIXELS).data))

    assert clean.mode == "L"
    assert clean.getpixel((0, 0)) == 255


def test_it_converts_cmyk_to_rgb():
    image = Image.new("CMYK", (8, 8), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")

    clean = Image.open(io.BytesIO(image_validate(buffer.getvalue(), max_pixels=MAX_PIXELS).data))

    assert clean.mode == "RGB"


def test_it_keeps_only_the_first_frame_of_an_animated_gif():
    frames = [Image.new("L", (16, 16), shade) for shade in (0, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])

    clean = Image.open(io.BytesIO(image_validate(buffer.getvalue(), max_pixels=MAX_PIXELS).data))

    assert getattr(clean, "n_frames", 1) == 1
    assert clean.convert("L").getpixel((0, 0)) == 0
