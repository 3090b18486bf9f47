"""TorchServe handler for image classifiers, shipped inside the .mar as module ``handler``.

It must stay self-contained: only the standard library, torch, Pillow and ``ts`` may be
imported. TorchServe picks the handler class by listing the classes *defined* in this module
and requires exactly one, so helpers are module-level functions, never classes.
"""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageFilter, ImageOps
from ts.torch_handler.base_handler import BaseHandler
from ts.utils.util import PredictionException

MAX_TOP_K = 10
MAX_IMAGE_PIXELS = 50_000_000
WORKING_MAX_SIDE = 512
DENOISE_MIN_SIDE = 32
MIN_INK_CONTRAST = 32
WHITE = 255
BAD_REQUEST = 400


def decode_image(data: bytes) -> Image.Image:
    """Decode untrusted bytes into an upright, fully loaded, single-frame image.

    Pillow's format plugins raise many unrelated exception types on malformed input, so every
    failure except running out of memory is reported as a ``ValueError``. The pixel count is
    checked before decoding because a few kilobytes of PNG can claim gigabytes of pixels.
    """
    if not data:
        raise ValueError("the request carries no image bytes")
    try:
        image = Image.open(io.BytesIO(data))
    except MemoryError:
        raise
    except Exception as exc:
        raise ValueError("the request body is not a decodable image") from exc
    if image.width * image.height > MAX_IMAGE_PIXELS:
        raise ValueError(f"the image has more than {MAX_IMAGE_PIXELS} pixels")
    try:
        image.seek(0)
        image.load()
        return ImageOps.exif_transpose(image)
    except MemoryError:
        raise
    except Exception as exc:
        raise ValueError("the request body is not a decodable image") from exc


def preprocess_image(image: Image.Image, spec: dict[str, Any]) -> torch.Tensor:
    """Turn an image into the CxHxW float tensor the model expects, as described by ``spec``."""
    mode = spec.get("mode")
    if mode == "digits":
        return preprocess_digit(image, spec)
    if mode == "rgb":
        return preprocess_rgb(image, spec)
    raise ValueError(f"unknown preprocess mode {mode!r}: expected 'digits' or 'rgb'")


def preprocess_digit(image: Image.Image, spec: dict[str, Any]) -> torch.Tensor:
    """Make a drawn or photographed digit look like scikit-learn's 8x8 optdigits samples.

    Optdigits digits are bright ink on black, cropped to the ink and scaled so the longer side
    fills the grid, each cell counting the ink pixels of a 4x4 block; BOX resampling of the
    ink-centred square reproduces that counting. The result is scaled so its brightest cell is
    1 because pen width relative to the canvas varies far more than in the training data.
    """
    size = int(spec["size"])
    gray = to_grayscale(image)
    gray.thumbnail((WORKING_MAX_SIDE, WORKING_MAX_SIDE), Image.Resampling.BOX)
    if has_light_background(gray):
        gray = ImageOps.invert(gray)
    low, high = gray.getextrema()
    if high - low < MIN_INK_CONTRAST:
        return torch.zeros(1, size, size)
    gray = ImageOps.autocontrast(gray)
    box = ink_bounding_box(gray, float(spec.get("ink_threshold", 0.25)))
    if box is None:
        return torch.zeros(1, size, size)
    square = pad_to_centred_square(gray.crop(box), float(spec.get("margin", 0.0)))
    tensor = image_to_tensor(square.resize((size, size), Image.Resampling.BOX))
    peak = tensor.max()
    return tensor / peak if peak > 0 else tensor


def preprocess_rgb(image: Image.Image, spec: dict[str, Any]) -> torch.Tensor:
    """ImageNet-style preprocessing: resize the shorter side, centre-crop, normalise."""
    rgb = flatten_alpha_onto_white(image).convert("RGB")
    resized = resize_shorter_side(rgb, int(spec["resize"]))
    tensor = image_to_tensor(centre_crop(resized, int(spec["crop"])))
    mean = torch.tensor(spec["mean"], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(spec["std"], dtype=torch.float32).view(-1, 1, 1)
    return (tensor - mean) / std


def flatten_alpha_onto_white(image: Image.Image) -> Image.Image:
    if not image.has_transparency_data:
        return image
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (WHITE, WHITE, WHITE, WHITE))
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_grayscale(image: Image.Image) -> Image.Image:
    """Convert to 8-bit grayscale; 16-bit images are rescaled because Pillow would clip them."""
    if image.mode.startswith("I;16"):
        return image.convert("I").point(lambda value: value / 256).convert("L")
    return flatten_alpha_onto_white(image).convert("L")


def has_light_background(gray: Image.Image) -> bool:
    width, height = gray.size
    edges = [(0, 0, width, 1), (0, height - 1, width, height), (0, 0, 1, height)]
    edges.append((width - 1, 0, width, height))
    border = b"".join(gray.crop(edge).tobytes() for edge in edges)
    return statistics.median(border) > WHITE / 2


def ink_bounding_box(gray: Image.Image, threshold: float) -> tuple[int, int, int, int] | None:
    """Box around pixels at least ``threshold`` (0..1) bright, ignoring isolated specks if any
    ink survives a median filter."""
    cutoff = round(threshold * WHITE)
    mask = gray.point(lambda value: WHITE if value >= cutoff else 0)
    if min(mask.size) >= DENOISE_MIN_SIDE:
        denoised_box = mask.filter(ImageFilter.MedianFilter(3)).getbbox()
        if denoised_box is not None:
            return denoised_box
    return mask.getbbox()


def pad_to_centred_square(gray: Image.Image, margin: float) -> Image.Image:
    width, height = gray.size
    side = max(1, round(max(width, height) * (1 + 2 * margin)))
    square = Image.new("L", (side, side), 0)
    square.paste(gray, ((side - width) // 2, (side - height) // 2))
    return square


def resize_shorter_side(image: Image.Image, shorter_side: int) -> Image.Image:
    width, height = image.size
    scale = shorter_side / min(width, height)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(new_size, Image.Resampling.BILINEAR)


def centre_crop(image: Image.Image, side: int) -> Image.Image:
    width, height = image.size
    left = round((width - side) / 2)
    top = round((height - side) / 2)
    return image.crop((left, top, left + side, top + side))


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """CxHxW float tensor in [0, 1]."""
    width, height = image.size
    channels = len(image.getbands())
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return pixels.view(height, width, channels).permute(2, 0, 1).float().div(WHITE)


def postprocess_topk(logits: torch.Tensor, labels: list[str], k: int) -> list[dict[str, Any]]:
    """The ``k`` most probable labels with softmax scores, most probable first."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    scores = torch.softmax(logits.detach().float().flatten(), dim=0)
    if scores.numel() != len(labels):
        raise ValueError(f"the model returned {scores.numel()} scores for {len(labels)} labels")
    top = torch.topk(scores, min(k, scores.numel()))
    return [
        {"label": labels[index], "score": score}
        for score, index in zip(top.values.tolist(), top.indices.tolist(), strict=True)
    ]


def read_labels(path: Path) -> list[str]:
    """Labels ordered by class index from an ``index_to_name.json`` of ``{"0": "name", ...}``."""
    mapping = json.loads(path.read_text(encoding="utf-8"))
    expected_keys = {str(index) for index in range(len(mapping))}
    if set(mapping) != expected_keys:
        raise ValueError(f"{path.name} keys must be the class indices 0..{len(mapping) - 1}")
    return [str(mapping[str(index)]) for index in range(len(mapping))]


def read_spec(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def request_image_bytes(request: dict[str, Any]) -> bytes:
    payload = request.get("data") or request.get("body")
    if not isinstance(payload, (bytes, bytearray)):
        raise PredictionException(
            "send the image bytes as the request body, with Content-Type image/* or "
            "application/octet-stream",
            BAD_REQUEST,
        )
    return bytes(payload)


def request_to_tensor(request: dict[str, Any], spec: dict[str, Any]) -> torch.Tensor:
    try:
        image = decode_image(request_image_bytes(request))
    except ValueError as exc:
        raise PredictionException(str(exc), BAD_REQUEST) from exc
    return preprocess_image(image, spec)


class ImageClassifierHandler(BaseHandler):
    """Classifies one image per request and answers with the ``MAX_TOP_K`` best labels.

    An undecodable image makes TorchServe answer 400 for the whole batch it arrived in.
    """

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[str] = []
        self.spec: dict[str, Any] = {}

    def initialize(self, context: Any) -> None:
        super().initialize(context)
        model_dir = Path(context.system_properties["model_dir"])
        self.labels = read_labels(model_dir / "index_to_name.json")
        self.spec = read_spec(model_dir / "preprocess.json")

    def preprocess(self, data: list[dict[str, Any]]) -> torch.Tensor:
        tensors = [request_to_tensor(request, self.spec) for request in data]
        return torch.stack(tensors).to(self.device)

    def postprocess(self, data: torch.Tensor) -> list[list[dict[str, Any]]]:
        return [postprocess_topk(logits, self.labels, MAX_TOP_K) for logits in data]

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[list[dict[str, Any]]]:
        """Answers as the base handler does, naming the model and its version in headers."""
        output = super().handle(data, context)
        model = context.manifest["model"]
        for index in range(len(data)):
            context.set_response_header(index, "X-Model-Name", model["modelName"])
            context.set_response_header(index, "X-Model-Version", model["modelVersion"])
        return output
