"""The real model, through the real HTTP API, on digits it never saw in training."""

import pytest

from tests.conftest import CLASSIFY_URL, upload
from torchserve.train import digit_to_png, digits_split

pytestmark = pytest.mark.django_db

REQUIRED_ACCURACY = 0.95


def test_held_out_digits_drawn_as_png_are_classified_with_at_least_95_percent_accuracy(authed):
    _, _, test_images, test_labels = digits_split()
    correct = 0
    for index, (pixels, label) in enumerate(zip(test_images, test_labels, strict=True)):
        png = digit_to_png(pixels, size=64 + (index % 4) * 32)
        response = authed.post(CLASSIFY_URL, {"image": upload(png), "top_k": 1}, format="multipart")
        assert response.status_code == 200, response.content
        correct += response.json()["predictions"][0]["label"] == str(label)

    accuracy = correct / len(test_labels)
    print(f"held-out accuracy through the API: {accuracy:.4f} on {len(test_labels)} digits")
    assert len(test_labels) == 360
    assert accuracy >= REQUIRED_ACCURACY
