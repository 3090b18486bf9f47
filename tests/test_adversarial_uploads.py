"""Hostile and unusual uploads to `POST /api/v1/classify/`, every one of them generated here.

Each request must get its exact status and error `code`, never a 5xx, and leave exactly one
audit row that says the same; valid images, however odd, are classified.
"""

import io
import random
import struct
import time
import zipfile
import zlib
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test.client import FakePayload
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from accounts.models import InferenceRecord
from inferapi import modelclient
from inferapi.errors import ApiError
from inferapi.images import image_validate
from tests.conftest import CLASSIFY_URL, upload

pytestmark = pytest.mark.django_db

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXIF_ORIENTATION = 0x0112
SECRET = b"metadata-that-must-not-reach-the-model"


# Inputs, built in code.


def drawn(size: tuple[int, int] = (64, 64), *, vertical: bool = True) -> Image.Image:
    """A dark bar on white, so the model has ink to look at."""
    width, height = size
    image = Image.new("RGB", size, "white")
    box = (
        (width * 4 // 9, height // 8, width * 5 // 9, height * 7 // 8)
        if vertical
        else (width // 8, height * 4 // 9, width * 7 // 8, height * 5 // 9)
    )
    ImageDraw.Draw(image).rectangle(box, fill="black")
    return image


def encoded(image: Image.Image, fmt: str, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def noisy(fmt: str) -> bytes:
    """Noise compresses badly, so cutting the file in half cuts into pixel data."""
    return encoded(Image.effect_noise((256, 256), 64).convert("RGB"), fmt)


def truncated(fmt: str) -> bytes:
    data = noisy(fmt)
    return data[: len(data) // 2]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG (correct CRCs) whose IHDR claims a size its tiny IDAT cannot fill."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(bytes(64)))
        + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small baseline JPEG whose SOF0 header is rewritten to claim `width` x `height`."""
    data = bytearray(encoded(drawn((8, 8)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    # SOF0: marker (2), segment length (2), sample precision (1), height (2), width (2).
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def random_bytes() -> bytes:
    return random.Random(20240601).randbytes(4096)


def plain_text() -> bytes:
    return b"Dear API, please classify this sentence.\n"


def html_document() -> bytes:
    return b"<!DOCTYPE html><html><body><h1>7</h1><script>alert(1)</script></body></html>"


def svg_with_script() -> bytes:
    return (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        b'<script>alert(document.cookie)</script><rect width="64" height="64"/></svg>'
    )


def minimal_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 64 64]>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.exe", b"MZ" + bytes(256))
    return buffer.getvalue()


def tiff() -> bytes:
    return encoded(drawn(), "TIFF")


def ico() -> bytes:
    return encoded(drawn(), "ICO")


def gif_js_polyglot_broken() -> bytes:
    """The classic GIF/JavaScript polyglot: the GIF signature, then a header whose width bytes
    open a JS comment and whose tail closes it. Valid JS (`GIF89a=1;alert(1);`), not a GIF."""
    return b"GIF89a/*\x0a\x00\x00\x00\x00*/=1;alert(1);"


def gif_js_polyglot_valid() -> bytes:
    """A fully valid GIF that is also valid JS: a width of 10799 pixels is `/*` in little-endian,
    a comment extension closes the JS comment and runs code, and bytes after the GIF trailer
    close the comment reopened at the end of it."""
    data = encoded(Image.new("L", (10799, 2), "white"), "GIF", comment=b"*/=1;alert(1);/*")
    return data + b"*/"


def palette_png_with_transparency() -> bytes:
    image = drawn().convert("P")
    return encoded(image, "PNG", transparency=image.getpixel((0, 0)))


def cmyk_jpeg() -> bytes:
    return encoded(drawn().convert("CMYK"), "JPEG")


def grayscale_16_bit_png() -> bytes:
    image = Image.new("I;16", (64, 64), 65535)
    ImageDraw.Draw(image).rectangle((28, 8, 36, 56), fill=0)
    return encoded(image, "PNG")


def rgba_png() -> bytes:
    image = drawn().convert("RGBA")
    image.putalpha(200)
    return encoded(image, "PNG")


def animated_gif_frames() -> list[Image.Image]:
    return [drawn(vertical=True), drawn(vertical=False), Image.new("RGB", (64, 64), "black")]


def animated_gif() -> bytes:
    first, *rest = animated_gif_frames()
    return encoded(first, "GIF", save_all=True, append_images=rest, duration=100, loop=0)


def png_with_zip_appended() -> bytes:
    return encoded(drawn(), "PNG") + zip_archive()


def jpeg_with_orientation_6() -> bytes:
    """80 wide and 40 high as stored; EXIF orientation 6 means "rotate 90 degrees to view"."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    return encoded(drawn((80, 40)), "JPEG", exif=exif)


def webp() -> bytes:
    return encoded(drawn(), "WEBP")


def bmp() -> bytes:
    return encoded(drawn(), "BMP")


def png_with_huge_text_and_exif() -> bytes:
    info = PngInfo()
    info.add_text("Comment", (SECRET * 80_000).decode())  # about 3 MB, under the 5 MB limit
    exif = Image.Exif()
    exif[0x010E] = SECRET.decode()  # ImageDescription
    return encoded(drawn(), "PNG", pnginfo=info, exif=exif)


def png_with_inflating_text() -> bytes:
    """A zTXt chunk of 50 KB that inflates to 50 MB: a decompression bomb in the metadata."""
    bomb = b"Comment\x00\x00" + zlib.compress(bytes(50 * 1024 * 1024), 9)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
        + png_chunk(b"zTXt", bomb)
        + png_chunk(b"IDAT", zlib.compress(bytes(9 * 8)))
        + png_chunk(b"IEND", b"")
    )


# Requests and what they must leave behind.


@pytest.fixture
def forwarded(monkeypatch) -> list[bytes]:
    """The image bytes each request hands to the model edge, recorded on their way through."""
    backend_class = type(modelclient.model_backend())
    predict = backend_class.predict
    seen: list[bytes] = []

    def recording(self, *, image: bytes, **kwargs) -> modelclient.Prediction:
        seen.append(image)
        return predict(self, image=image, **kwargs)

    # Patched on the class, so nothing is left on the cached backend afterwards.
    monkeypatch.setattr(backend_class, "predict", recording)
    return seen


def classify(api, data: bytes, name: str = "image.png", content_type: str = "image/png"):
    """Post as a client that claims a PNG, whatever the bytes are: only the content counts."""
    return api.post(CLASSIFY_URL, {"image": upload(data, name, content_type)}, format="multipart")


def assert_refused(response, status: int, code: str) -> InferenceRecord:
    assert response.status_code < 500, response.content
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "code"} and body["code"] == code
    record = InferenceRecord.objects.get()
    assert (record.status, record.error_code) == (status, code)
    assert record.top_label == "" and record.model_name == ""
    return record


def assert_classified(response, fmt: str, width: int, height: int) -> InferenceRecord:
    assert response.status_code < 500, response.content
    assert response.status_code == 200, response.content
    predictions = response.json()["predictions"]
    assert predictions and all(0 <= item["score"] <= 1 for item in predictions)
    record = InferenceRecord.objects.get()
    assert (record.status, record.error_code) == (200, "")
    assert (record.image_format, record.image_width, record.image_height) == (fmt, width, height)
    assert record.top_label == predictions[0]["label"]
    return record


def pixels_of(data: bytes) -> bytes:
    return Image.open(io.BytesIO(data)).convert("L").tobytes()


# Refusals.


def test_it_refuses_a_zero_byte_file_as_invalid_image(authed):
    assert_refused(classify(authed, b""), 400, "invalid_image")


@pytest.mark.parametrize(
    "build",
    [random_bytes, plain_text, html_document, svg_with_script, minimal_pdf, zip_archive],
    ids=["random bytes", "plain text", "HTML", "SVG with script", "PDF", "ZIP"],
)
def test_it_refuses_what_is_not_an_image_as_unsupported_media_type(authed, build: Callable):
    data = build()

    record = assert_refused(classify(authed, data), 415, "unsupported_media_type")
    assert record.image_bytes == len(data) and record.image_format == ""


@pytest.mark.parametrize(("build", "fmt"), [(tiff, "TIFF"), (ico, "ICO")], ids=["TIFF", "ICO"])
def test_it_refuses_formats_pillow_reads_but_the_api_does_not_allow(authed, build: Callable, fmt):
    data = build()
    assert Image.open(io.BytesIO(data)).format == fmt

    assert_refused(classify(authed, data), 415, "unsupported_media_type")


def test_it_refuses_a_gif_javascript_polyglot_that_does_not_decode_as_invalid_image(authed):
    """The GIF signature is recognised, so this is a damaged GIF (400), not another type."""
    assert_refused(classify(authed, gif_js_polyglot_broken()), 400, "invalid_image")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_it_refuses_a_truncated_image_as_invalid_image(authed, fmt):
    assert_refused(classify(authed, truncated(fmt)), 400, "invalid_image")


def test_it_refuses_a_png_claiming_100000_by_100000_pixels_before_decoding(authed):
    """Ten gigapixels would take minutes and tens of gigabytes to decode; the header suffices."""
    data = png_claiming(100_000, 100_000)
    assert struct.unpack(">II", data[16:24]) == (100_000, 100_000)

    started = time.perf_counter()
    response = classify(authed, data)
    elapsed = time.perf_counter() - started

    assert_refused(response, 413, "image_too_large")
    assert elapsed < 0.5


def test_it_refuses_a_jpeg_claiming_the_largest_size_jpeg_can_express(authed):
    """JPEG stores width and height as 16-bit numbers in its SOF header, so 65535 x 65535 is the
    most a JPEG can claim; a 100000-pixel side cannot even be written down."""
    data = jpeg_claiming(65535, 65535)

    started = time.perf_counter()
    response = classify(authed, data)
    elapsed = time.perf_counter() - started

    assert_refused(response, 413, "image_too_large")
    assert elapsed < 0.5


def test_it_refuses_a_50_mb_body_without_reading_it(authed, monkeypatch):
    # In production Nginx refuses this even earlier (`client_max_body_size 6m`); this is the
    # application's own guard, from the announced Content-Length alone.
    read = FakePayload.read
    bytes_read: list[int] = []

    def counting_read(self, size=-1, /) -> bytes:
        chunk = read(self, size)
        bytes_read.append(len(chunk))
        return chunk

    monkeypatch.setattr(FakePayload, "read", counting_read)
    monkeypatch.setattr(FakePayload, "readline", counting_read)

    response = classify(authed, PNG_SIGNATURE + bytes(50 * 1024 * 1024))

    record = assert_refused(response, 413, "image_too_large")
    assert sum(bytes_read) == 0
    assert record.image_sha256 == "" and record.image_bytes is None


def test_it_refuses_a_png_whose_compressed_text_inflates_to_50_mb_as_invalid_image(authed):
    """Pillow refuses text chunks that inflate past 1 MB; the file cannot be read safely."""
    data = png_with_inflating_text()

    started = time.perf_counter()
    response = classify(authed, data)
    elapsed = time.perf_counter() - started

    assert_refused(response, 400, "invalid_image")
    assert elapsed < 0.5


# Valid images, however odd, are classified.


@pytest.mark.parametrize(
    ("build", "fmt", "size"),
    [
        (palette_png_with_transparency, "PNG", (64, 64)),
        (cmyk_jpeg, "JPEG", (64, 64)),
        (grayscale_16_bit_png, "PNG", (64, 64)),
        (rgba_png, "PNG", (64, 64)),
        (animated_gif, "GIF", (64, 64)),
        (png_with_zip_appended, "PNG", (64, 64)),
        (jpeg_with_orientation_6, "JPEG", (40, 80)),
        (webp, "WEBP", (64, 64)),
        (bmp, "BMP", (64, 64)),
        (png_with_huge_text_and_exif, "PNG", (64, 64)),
    ],
    ids=[
        "palette PNG with transparency",
        "CMYK JPEG",
        "16-bit grayscale PNG",
        "RGBA PNG",
        "animated GIF",
        "PNG with a ZIP appended",
        "JPEG with EXIF orientation 6",
        "WebP",
        "BMP",
        "PNG with huge text and EXIF",
    ],
)
def test_it_classifies_unusual_but_valid_images(authed, forwarded, build: Callable, fmt, size):
    assert_classified(classify(authed, build()), fmt, *size)

    assert len(forwarded) == 1 and forwarded[0].startswith(PNG_SIGNATURE)


def test_the_generated_valid_images_are_what_their_names_claim():
    def opened(data: bytes) -> Image.Image:
        return Image.open(io.BytesIO(data))

    assert opened(palette_png_with_transparency()).mode == "P"
    assert "transparency" in opened(palette_png_with_transparency()).info
    assert opened(cmyk_jpeg()).mode == "CMYK"
    assert opened(grayscale_16_bit_png()).mode == "I;16"
    assert opened(rgba_png()).mode == "RGBA"
    assert opened(animated_gif()).n_frames == 3
    assert opened(jpeg_with_orientation_6()).size == (80, 40)
    assert opened(jpeg_with_orientation_6()).getexif()[EXIF_ORIENTATION] == 6
    assert b"PK\x03\x04" in png_with_zip_appended()


def test_it_classifies_an_animated_gif_from_its_first_frame(authed, forwarded):
    first, second, _ = animated_gif_frames()

    assert_classified(classify(authed, animated_gif()), "GIF", 64, 64)

    assert pixels_of(forwarded[0]) == first.convert("L").tobytes()
    assert pixels_of(forwarded[0]) != second.convert("L").tobytes()


def test_it_classifies_a_png_named_evil_exe_like_the_same_png_sent_normally(authed):
    data = encoded(drawn(), "PNG")

    normal = classify(authed, data)
    disguised = classify(authed, data, "evil.exe", "application/x-msdownload")

    assert normal.status_code == disguised.status_code == 200, disguised.content
    assert disguised.json()["predictions"] == normal.json()["predictions"]
    records = InferenceRecord.objects.all()
    assert [(record.status, record.image_format) for record in records] == [(200, "PNG")] * 2


def test_it_forwards_a_png_with_a_zip_appended_without_the_zip(authed, forwarded):
    assert_classified(classify(authed, png_with_zip_appended()), "PNG", 64, 64)

    assert b"PK" not in forwarded[0]
    assert pixels_of(forwarded[0]) == drawn().convert("L").tobytes()


def test_it_classifies_a_valid_gif_javascript_polyglot_and_forwards_only_its_pixels(
    authed, forwarded
):
    data = gif_js_polyglot_valid()
    # As JS: `GIF89a/*<binary>*/=1;alert(1);/*<binary>*/`, so no other `*/` may occur.
    script = data.index(b"*/=1;alert(1);/*")
    assert data.startswith(b"GIF89a/*") and data.index(b"*/") == script
    assert data.index(b"*/", script + 2) == len(data) - 2

    assert_classified(classify(authed, data), "GIF", 10799, 2)

    assert b"alert" not in forwarded[0] and forwarded[0].startswith(PNG_SIGNATURE)


def test_image_validate_strips_text_chunks_and_exif_from_what_reaches_the_model():
    data = png_with_huge_text_and_exif()
    assert SECRET in data and b"eXIf" in data and b"tEXt" in data

    clean = image_validate(data, max_pixels=settings.MAX_IMAGE_PIXELS).data

    assert SECRET not in clean
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
        assert chunk not in clean
    assert len(clean) < 10_000


def damaged_copies(data: bytes, *, seed: int, count: int) -> list[bytes]:
    """Copies with a few random bytes overwritten, a fifth of them also cut short."""
    rng = random.Random(seed)
    copies = []
    for _ in range(count):
        copy = bytearray(data)
        for _ in range(rng.choice([1, 2, 4, 8, 16])):
            copy[rng.randrange(len(copy))] = rng.randrange(256)
        if rng.random() < 0.2:
            copy = copy[: rng.randrange(1, len(copy))]
        copies.append(bytes(copy))
    return copies


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about corrupt EXIF, rightly
@pytest.mark.parametrize(
    "build",
    [bmp, webp, animated_gif, cmyk_jpeg, jpeg_with_orientation_6, rgba_png, grayscale_16_bit_png],
)
def test_image_validate_meets_damaged_images_with_a_clean_image_or_a_4xx_refusal(build):
    refusals = {(400, "invalid_image"), (413, "image_too_large"), (415, "unsupported_media_type")}

    for data in damaged_copies(build(), seed=7, count=200):
        try:
            validated = image_validate(data, max_pixels=settings.MAX_IMAGE_PIXELS)
        except ApiError as error:
            assert (error.status_code, error.code) in refusals, data
        else:
            assert validated.data.startswith(PNG_SIGNATURE)
