"""Reproducible training of a small CNN on scikit-learn's 8x8 digits.

Every training and evaluation input goes through the serving path (``decode_image`` and
``preprocess_image`` from the handler), so the model sees at training time exactly what it
sees behind TorchServe. Training runs on one thread with deterministic algorithms so that a
rebuild produces the same weights on any machine.
"""

from __future__ import annotations

import io
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from torchserve.handler import decode_image, preprocess_image

MODEL_NAME = "digits"
MODEL_VERSION = "1.0"
SEED = 0
EPOCHS = 12
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
AUGMENTED_COPIES = 6
DIGITS_SPEC: dict[str, Any] = {"mode": "digits", "size": 8, "margin": 0.0, "ink_threshold": 0.25}
LABELS = [str(digit) for digit in range(10)]
BUILD_DIR = Path(__file__).resolve().parent / "build"
MAX_INK = 16.0
WHITE = 255


@dataclass(frozen=True)
class TrainingResult:
    model: nn.Module
    accuracy: float
    train_size: int
    test_size: int
    seconds: float


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 80/20 split of the 8x8 digits (values 0..16) as
    ``(train_images, train_labels, test_images, test_labels)``."""
    digits = load_digits()
    train_images, test_images, train_labels, test_labels = train_test_split(
        digits.images, digits.target, test_size=0.2, stratify=digits.target, random_state=0
    )
    return train_images, train_labels, test_images, test_labels


def digit_image(pixels: np.ndarray) -> Image.Image:
    """An 8x8 digit as dark ink on white, one pixel per cell."""
    ink = np.clip(np.asarray(pixels, dtype=np.float64) / MAX_INK, 0.0, 1.0)
    return Image.fromarray(np.round(WHITE * (1.0 - ink)).astype(np.uint8))


def digit_to_png(pixels: np.ndarray, size: int = 64) -> bytes:
    """PNG of a digit drawn as dark ink on white, scaled up to ``size`` x ``size``."""
    image = digit_image(pixels).resize((size, size), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def render_augmented_digit(pixels: np.ndarray, rng: random.Random) -> Image.Image:
    """The digit as someone might draw it: any size, smooth or binary strokes of varying
    width, slightly rotated and stretched, anywhere on a larger white canvas."""
    height = rng.randint(16, 160)
    width = max(8, round(height * rng.uniform(0.75, 1.25)))
    resample = rng.choice([Image.Resampling.NEAREST, Image.Resampling.BICUBIC])
    image = digit_image(pixels).resize((width, height), resample)
    if rng.random() < 0.5:
        cutoff = rng.randint(60, 200)
        image = image.point(lambda value: 0 if value < cutoff else WHITE)
    image = change_stroke_width(image, rng)
    image = image.rotate(
        rng.uniform(-12.0, 12.0), Image.Resampling.BILINEAR, expand=True, fillcolor=WHITE
    )
    return place_on_canvas(image, rng)


def change_stroke_width(image: Image.Image, rng: random.Random) -> Image.Image:
    """Thicken (a min filter grows dark ink) or, on large renders, thin the strokes."""
    choice = rng.random()
    if choice < 0.35:
        return image.filter(ImageFilter.MinFilter(rng.choice([3, 5])))
    if choice < 0.5 and min(image.size) >= 48:
        return image.filter(ImageFilter.MaxFilter(3))
    return image


def place_on_canvas(image: Image.Image, rng: random.Random) -> Image.Image:
    width, height = image.size
    canvas_width = width + rng.randint(2, width)
    canvas_height = height + rng.randint(2, height)
    canvas = Image.new("L", (canvas_width, canvas_height), WHITE)
    offset = (rng.randint(1, canvas_width - width), rng.randint(1, canvas_height - height))
    canvas.paste(image, offset)
    return canvas


def rendered_png_to_tensor(png: bytes) -> torch.Tensor:
    return preprocess_image(decode_image(png), DIGITS_SPEC)


def clean_digit_tensors(images: np.ndarray) -> torch.Tensor:
    return torch.stack([rendered_png_to_tensor(digit_to_png(pixels)) for pixels in images])


def augmented_digit_tensors(images: np.ndarray, rng: random.Random) -> torch.Tensor:
    return torch.stack(
        [preprocess_image(render_augmented_digit(pixels, rng), DIGITS_SPEC) for pixels in images]
    )


def training_tensors(
    images: np.ndarray, labels: np.ndarray, rng: random.Random
) -> tuple[torch.Tensor, torch.Tensor]:
    inputs = [clean_digit_tensors(images)]
    inputs += [augmented_digit_tensors(images, rng) for _ in range(AUGMENTED_COPIES)]
    targets = torch.as_tensor(labels, dtype=torch.long).repeat(1 + AUGMENTED_COPIES)
    return torch.cat(inputs), targets


def build_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(64 * 2 * 2, 128),
        nn.ReLU(),
        nn.Linear(128, len(LABELS)),
    )


def make_reproducible(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def fit(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    steps_per_epoch = -(-len(inputs) // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LEARNING_RATE, epochs=EPOCHS, steps_per_epoch=steps_per_epoch
    )
    loss_function = nn.CrossEntropyLoss(label_smoothing=0.05)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(inputs), generator=generator)
        for batch in order.split(BATCH_SIZE):
            optimizer.zero_grad()
            loss_function(model(inputs[batch]), targets[batch]).backward()
            optimizer.step()
            schedule.step()
    model.eval()


def accuracy(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    with torch.inference_mode():
        predictions = model(inputs).argmax(dim=1)
    return (predictions == targets).float().mean().item()


def train(seed: int = SEED) -> TrainingResult:
    started = time.perf_counter()
    make_reproducible(seed)
    train_images, train_labels, test_images, test_labels = digits_split()
    inputs, targets = training_tensors(train_images, train_labels, random.Random(seed))  # noqa: S311
    model = build_model()
    fit(model, inputs, targets, seed)
    test_accuracy = accuracy(
        model, clean_digit_tensors(test_images), torch.as_tensor(test_labels, dtype=torch.long)
    )
    elapsed = time.perf_counter() - started
    return TrainingResult(model, test_accuracy, len(train_images), len(test_images), elapsed)


def model_info(result: TrainingResult, seed: int = SEED) -> dict[str, Any]:
    return {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "seed": seed,
        "heldout_accuracy": round(result.accuracy, 4),
        "train_size": result.train_size,
        "test_size": result.test_size,
        "torch_version": torch.__version__,
        "epochs": EPOCHS,
        "augmented_copies": AUGMENTED_COPIES,
    }


def index_to_name() -> dict[str, str]:
    return {str(index): label for index, label in enumerate(LABELS)}


def write_json(path: Path, content: Any) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def save_artifacts(result: TrainingResult, build_dir: Path = BUILD_DIR) -> None:
    build_dir.mkdir(parents=True, exist_ok=True)
    scripted = torch.jit.script(result.model)
    scripted.save(str(build_dir / f"{MODEL_NAME}.pt"))
    write_json(build_dir / "index_to_name.json", index_to_name())
    write_json(build_dir / "preprocess.json", DIGITS_SPEC)
    write_json(build_dir / "model_info.json", model_info(result))


def main() -> TrainingResult:
    result = train()
    print(f"held-out accuracy: {result.accuracy:.4f} ({result.test_size} digits)")
    print(f"training took {result.seconds:.1f} s")
    save_artifacts(result)
    return result


if __name__ == "__main__":
    main()
