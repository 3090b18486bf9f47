import importlib.util
import io
import json
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from PIL import ExifTags, Image, ImageDraw
from ts.context import Context, RequestProcessor
from ts.utils.util import PredictionException, list_classes_from_module

from torchserve import handler as handler_module
from torchserve.handler import decode_image, postprocess_topk, preprocess_image
from torchserve.train import DIGITS_SPEC, digit_to_png, digits_split

REPO_ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = REPO_ROOT / "model_store" / "digits.mar"
RGB_SPEC = {
    "mode": "rgb",
    "resize": 256,
    "crop": 224,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}
BLACK = 0
WHITE = 255


def encode(image: Image.Image, image_format: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def canvas_with_seven(size: int, left: int, top: int, ink: int = BLACK, paper: int = WHITE):
    """A 7-like stroke whose bounding box is ``size // 4`` wide and ``size // 3`` tall."""
    image = Image.new("L", (size, size), paper)
    width, height = size // 4, size // 3
    stroke = max(2, size // 40)
    ImageDraw.Draw(image).line(
        [(left, top), (left + width, top), (left + width // 3, top + height)],
        fill=ink,
        width=stroke,
    )
    return image


def digits(image: Image.Image) -> torch.Tensor:
    return preprocess_image(image, DIGITS_SPEC)


def centre_of_mass(tensor: torch.Tensor) -> tuple[float, float]:
    plane = tensor[0]
    rows = torch.arange(plane.shape[0], dtype=torch.float32)
    columns = torch.arange(plane.shape[1], dtype=torch.float32)
    total = plane.sum()
    return (
        float((plane.sum(dim=1) * rows).sum() / total),
        float((plane.sum(dim=0) * columns).sum() / total),
    )


def test_decode_refuses_garbage_bytes():
    with pytest.raises(ValueError, match="not a decodable image"):
        decode_image(b"definitely not an image")


def test_decode_refuses_a_truncated_image():
    png = encode(Image.new("RGB", (64, 64), (10, 200, 30)))
    with pytest.raises(ValueError, match="not a decodable image"):
        decode_image(png[: len(png) // 2])


def test_decode_refuses_empty_bytes():
    with pytest.raises(ValueError, match="no image bytes"):
        decode_image(b"")


def test_decode_refuses_an_image_with_too_many_pixels_before_decoding_it(monkeypatch):
    monkeypatch.setattr(handler_module, "MAX_IMAGE_PIXELS", 100 * 100)
    with pytest.raises(ValueError, match="more than 10000 pixels"):
        decode_image(encode(Image.new("L", (101, 100))))
    assert decode_image(encode(Image.new("L", (100, 100)))).size == (100, 100)


def test_decode_applies_exif_orientation():
    image = Image.new("L", (40, 20), WHITE)
    image.paste(BLACK, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # display rotated 90 degrees clockwise
    decoded = decode_image(encode(image, "JPEG", exif=exif, quality=95))
    assert decoded.size == (20, 40)
    assert decoded.getpixel((10, 5)) < 60
    assert decoded.getpixel((10, 35)) > 200


def test_decode_keeps_only_the_first_frame_of_an_animation():
    frames = [Image.new("L", (8, 8), value) for value in (WHITE, BLACK)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(gif)
    assert getattr(decoded, "n_frames", 1) == 1
    assert decoded.convert("L").getpixel((4, 4)) == WHITE


def test_preprocess_returns_one_channel_of_the_spec_size_in_unit_range():
    tensor = digits(canvas_with_seven(120, 30, 30))
    assert tensor.shape == (1, 8, 8)
    assert tensor.dtype == torch.float32
    assert tensor.min() >= 0
    assert tensor.max() == pytest.approx(1.0)


def test_preprocess_inverts_dark_ink_on_light_background():
    image = Image.new("L", (80, 80), WHITE)
    image.paste(BLACK, (30, 10, 50, 70))
    tensor = digits(image)
    assert tensor[0, 4, 4] == pytest.approx(1.0)
    assert tensor[0, 4, 0] == 0
    assert tensor[0, 4, 7] == 0


def test_preprocess_gives_the_same_tensor_for_either_ink_polarity():
    dark_on_light = canvas_with_seven(160, 40, 40, ink=BLACK, paper=WHITE)
    light_on_dark = canvas_with_seven(160, 40, 40, ink=WHITE, paper=BLACK)
    assert torch.allclose(digits(dark_on_light), digits(light_on_dark))


def test_preprocess_crops_off_centre_ink_and_centres_it():
    in_the_corner = digits(canvas_with_seven(200, 4, 4))
    in_the_middle = digits(canvas_with_seven(200, 75, 67))
    assert torch.allclose(in_the_corner, in_the_middle, atol=0.05)
    row, column = centre_of_mass(in_the_corner)
    assert 2.0 < row < 5.0
    assert 2.0 < column < 5.0


def test_preprocess_ignores_isolated_specks_when_finding_the_ink():
    clean = canvas_with_seven(200, 75, 67)
    specked = clean.copy()
    specked.putpixel((2, 2), BLACK)
    specked.putpixel((195, 190), BLACK)
    assert torch.allclose(digits(specked), digits(clean), atol=0.05)


def test_preprocess_is_scale_invariant():
    _, _, test_images, _ = digits_split()
    for pixels in test_images[:20]:
        small = digits(decode_image(digit_to_png(pixels, size=64)))
        large = digits(decode_image(digit_to_png(pixels, size=300)))
        assert (small - large).abs().max() < 0.1
        assert (small - large).abs().mean() < 0.02


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (64, 64), WHITE),
        Image.new("L", (64, 64), BLACK),
        Image.new("RGB", (50, 30), (128, 128, 128)),
        Image.new("RGBA", (64, 64), (0, 0, 0, 0)),
        Image.new("L", (1, 1), WHITE),
    ],
    ids=["white", "black", "grey", "transparent", "one-pixel"],
)
def test_preprocess_returns_zeros_for_a_blank_image(image):
    assert torch.equal(digits(image), torch.zeros(1, 8, 8))


def test_preprocess_composites_transparent_canvas_onto_white():
    """A browser canvas exports transparent black pixels around opaque black strokes."""
    on_white = canvas_with_seven(140, 30, 30)
    transparent = Image.new("RGBA", on_white.size, (0, 0, 0, 0))
    transparent.putalpha(on_white.point(lambda value: WHITE - value))
    decoded = decode_image(encode(transparent))
    assert torch.allclose(digits(decoded), digits(on_white))


def test_preprocess_rescales_sixteen_bit_images_instead_of_clipping_them():
    eight_bit = canvas_with_seven(100, 20, 20)
    sixteen_bit = eight_bit.convert("I").point(lambda value: value * 256).convert("I;16")
    assert torch.allclose(digits(sixteen_bit), digits(eight_bit), atol=0.02)


def test_preprocess_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="unknown preprocess mode"):
        preprocess_image(Image.new("L", (8, 8)), {"mode": "audio"})


def test_rgb_preprocess_resizes_the_shorter_side_and_centre_crops_to_the_spec_size():
    tensor = preprocess_image(Image.new("RGB", (320, 240), (10, 20, 30)), RGB_SPEC)
    assert tensor.shape == (3, 224, 224)
    assert tensor.dtype == torch.float32


def test_rgb_preprocess_normalises_with_the_spec_mean_and_std():
    colour = (255, 0, 128)
    tensor = preprocess_image(Image.new("RGB", (300, 260), colour), RGB_SPEC)
    for channel, value in enumerate(colour):
        expected = (value / 255 - RGB_SPEC["mean"][channel]) / RGB_SPEC["std"][channel]
        assert torch.allclose(tensor[channel], torch.full((224, 224), expected), atol=1e-5)


def test_rgb_preprocess_keeps_the_centre_of_a_wide_image():
    image = Image.new("RGB", (512, 256), (0, 0, 0))
    image.paste((255, 255, 255), (128, 0, 384, 256))
    spec = {**RGB_SPEC, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    assert torch.allclose(preprocess_image(image, spec), torch.ones(3, 224, 224))


def test_rgb_preprocess_composites_transparency_onto_white():
    spec = {**RGB_SPEC, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    tensor = preprocess_image(Image.new("RGBA", (256, 256), (0, 0, 0, 0)), spec)
    assert torch.allclose(tensor, torch.ones(3, 224, 224))


def test_postprocess_sorts_scores_descending_with_their_labels():
    predictions = postprocess_topk(torch.tensor([0.5, 3.0, -1.0, 2.0]), ["a", "b", "c", "d"], 4)
    assert [prediction["label"] for prediction in predictions] == ["b", "d", "a", "c"]
    scores = [prediction["score"] for prediction in predictions]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(score, float) for score in scores)


def test_postprocess_scores_are_softmax_probabilities():
    logits = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    labels = list("abcde")
    everything = postprocess_topk(logits, labels, 5)
    top_two = postprocess_topk(logits, labels, 2)
    assert sum(prediction["score"] for prediction in everything) == pytest.approx(1.0)
    assert sum(prediction["score"] for prediction in top_two) <= 1.0
    assert everything[0]["score"] == pytest.approx(torch.softmax(logits, 0)[4].item())


@pytest.mark.parametrize(("k", "expected_length"), [(1, 1), (3, 3), (10, 3), (1000, 3)])
def test_postprocess_returns_at_most_k_and_at_most_the_number_of_classes(k, expected_length):
    assert len(postprocess_topk(torch.tensor([0.1, 0.2, 0.3]), ["x", "y", "z"], k)) == (
        expected_length
    )


def test_postprocess_rejects_k_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        postprocess_topk(torch.tensor([0.1, 0.2]), ["x", "y"], 0)


def test_postprocess_rejects_a_label_count_that_does_not_match_the_model():
    with pytest.raises(ValueError, match="3 scores for 2 labels"):
        postprocess_topk(torch.tensor([0.1, 0.2, 0.3]), ["x", "y"], 2)


class NoOpMetrics:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not ARCHIVE.exists():
        pytest.skip("model_store/digits.mar is missing: run `python -m torchserve.build`")
    directory = tmp_path_factory.mktemp("digits_mar")
    with zipfile.ZipFile(ARCHIVE) as archive:
        archive.extractall(directory)
    return directory


@pytest.fixture(scope="module")
def archived_handler_module(model_dir: Path) -> ModuleType:
    """The handler exactly as shipped in the archive, imported the way TorchServe does."""
    spec = importlib.util.spec_from_file_location("handler", model_dir / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_context(model_dir: Path, requests: int = 1) -> Context:
    manifest = json.loads((model_dir / "MAR-INF" / "MANIFEST.json").read_text())
    context = Context(
        model_name="digits",
        model_dir=str(model_dir),
        manifest=manifest,
        batch_size=1,
        gpu=None,
        mms_version="0.12.0",
        metrics=NoOpMetrics(),
        model_yaml_config={},
    )
    context.request_processor = [RequestProcessor({}) for _ in range(requests)]
    return context


@pytest.fixture(scope="module")
def handler(archived_handler_module: ModuleType, model_dir: Path) -> Any:
    instance = archived_handler_module.ImageClassifierHandler()
    instance.initialize(make_context(model_dir))
    return instance


def handle(handler: Any, model_dir: Path, requests: list[dict[str, Any]]) -> list[Any]:
    return handler.handle(requests, make_context(model_dir, len(requests)))


def test_archive_ships_the_model_the_handler_and_its_config_files():
    if not ARCHIVE.exists():
        pytest.skip("model_store/digits.mar is missing: run `python -m torchserve.build`")
    with zipfile.ZipFile(ARCHIVE) as archive:
        names = set(archive.namelist())
    expected = {"digits.pt", "handler.py", "index_to_name.json", "preprocess.json"}
    assert expected | {"model_info.json", "MAR-INF/MANIFEST.json"} <= names


def test_archived_handler_defines_exactly_one_class_as_torchserve_requires(
    archived_handler_module,
):
    classes = list_classes_from_module(archived_handler_module)
    assert [cls.__name__ for cls in classes] == ["ImageClassifierHandler"]
    assert not hasattr(archived_handler_module, "handle")


def test_handler_returns_ten_sorted_predictions_per_request(handler, model_dir):
    _, _, test_images, _ = digits_split()
    responses = handle(handler, model_dir, [{"body": digit_to_png(test_images[0])}])
    assert len(responses) == 1
    predictions = responses[0]
    assert len(predictions) == 10
    assert {prediction["label"] for prediction in predictions} == {str(d) for d in range(10)}
    scores = [prediction["score"] for prediction in predictions]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-4)


def test_handler_reads_images_from_data_or_body_as_bytes_or_bytearray(handler, model_dir):
    _, _, test_images, test_labels = digits_split()
    png = digit_to_png(test_images[1])
    responses = handle(handler, model_dir, [{"data": bytearray(png)}, {"body": png}])
    assert len(responses) == 2
    assert responses[0] == responses[1]
    assert responses[0][0]["label"] == str(test_labels[1])


def test_handler_classifies_held_out_digits(handler, model_dir):
    _, _, test_images, test_labels = digits_split()
    requests = [{"body": digit_to_png(pixels)} for pixels in test_images]
    responses = [
        prediction
        for start in range(0, len(requests), 40)
        for prediction in handle(handler, model_dir, requests[start : start + 40])
    ]
    top_labels = [predictions[0]["label"] for predictions in responses]
    correct = sum(
        label == str(expected) for label, expected in zip(top_labels, test_labels, strict=True)
    )
    assert correct / len(test_labels) >= 0.95


def test_handler_answers_400_for_garbage(handler, model_dir):
    with pytest.raises(PredictionException) as raised:
        handle(handler, model_dir, [{"body": b"GIF89a but not really"}])
    assert raised.value.error_code == 400
    assert "not a decodable image" in raised.value.message


def test_handler_answers_400_for_a_request_without_image_bytes(handler, model_dir):
    with pytest.raises(PredictionException) as raised:
        handle(handler, model_dir, [{"body": {"image": "base64?"}}])
    assert raised.value.error_code == 400
