import io
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from torchserve import archive, build, train
from torchserve.train import (
    DIGITS_SPEC,
    digit_to_png,
    digits_split,
    render_augmented_digit,
)

BUILD_DIR = Path(train.BUILD_DIR)


def test_digits_split_is_deterministic():
    first = digits_split()
    second = digits_split()
    for first_array, second_array in zip(first, second, strict=True):
        assert np.array_equal(first_array, second_array)


def test_digits_split_holds_out_twenty_percent_of_every_digit():
    train_images, train_labels, test_images, test_labels = digits_split()
    assert (len(train_images), len(test_images)) == (1437, 360)
    assert train_images.shape[1:] == test_images.shape[1:] == (8, 8)
    train_counts = Counter(train_labels.tolist())
    test_counts = Counter(test_labels.tolist())
    assert set(test_counts) == set(range(10))
    for digit in range(10):
        total = train_counts[digit] + test_counts[digit]
        assert abs(test_counts[digit] - 0.2 * total) <= 1


def test_digit_to_png_renders_dark_ink_on_white_at_the_requested_size():
    pixels = np.zeros((8, 8))
    pixels[2:6, 3] = 16
    for size in (64, 300):
        image = Image.open(io.BytesIO(digit_to_png(pixels, size=size)))
        assert image.format == "PNG"
        assert image.size == (size, size)
        assert image.convert("L").getpixel((0, 0)) == 255
        assert image.convert("L").getpixel((size * 3.5 / 8, size / 2)) == 0


def test_augmented_rendering_is_reproducible_for_a_seed():
    _, _, test_images, _ = digits_split()
    first = render_augmented_digit(test_images[0], random.Random(7))
    second = render_augmented_digit(test_images[0], random.Random(7))
    assert first.tobytes() == second.tobytes()


def test_digits_spec_describes_an_eight_by_eight_digit_input():
    assert DIGITS_SPEC["mode"] == "digits"
    assert DIGITS_SPEC["size"] == 8


def test_build_refuses_to_archive_a_model_below_the_accuracy_bar(monkeypatch):
    weak = train.TrainingResult(torch.nn.Identity(), 0.9, 1437, 360, 1.0)
    archived = []
    monkeypatch.setattr(train, "main", lambda: weak)
    monkeypatch.setattr(archive, "archive_model", lambda: archived.append(True))
    assert build.main() == 1
    assert archived == []


def test_archiver_runs_the_console_script_next_to_the_interpreter():
    command = archive.archiver_command()
    assert Path(command[0]).name == "torch-model-archiver"
    assert Path(command[0]).exists()
    assert command[command.index("--model-name") + 1] == "digits"
    assert command[command.index("--version") + 1] == "1.0"
    assert command[command.index("--handler") + 1].endswith("torchserve/handler.py")
    assert "--force" in command


def built(name: str) -> Path:
    path = BUILD_DIR / name
    if not path.exists():
        pytest.skip(f"torchserve/build/{name} is missing: run `python -m torchserve.build`")
    return path


def test_built_model_info_records_an_accuracy_of_at_least_95_percent():
    info = json.loads(built("model_info.json").read_text())
    assert info["name"] == "digits"
    assert info["version"] == "1.0"
    assert info["heldout_accuracy"] >= 0.95
    assert (info["train_size"], info["test_size"]) == (1437, 360)


def test_built_model_loads_with_torch_jit_load_and_scores_ten_classes():
    model = torch.jit.load(str(built("digits.pt")))
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_built_labels_and_spec_match_the_training_code():
    labels = json.loads(built("index_to_name.json").read_text())
    assert labels == {str(digit): str(digit) for digit in range(10)}
    assert json.loads(built("preprocess.json").read_text()) == DIGITS_SPEC
