"""Package a pretrained torchvision ImageNet classifier for TorchServe as ``imagenet.mar``.

    python -m torchserve.imagenet --arch resnet18 --output model_store

Runs only where torchvision is installed and its weights can be downloaded: the TorchServe
image build with ``MODEL=imagenet``. The archive is served by the same handler as the digits
model, through its ``"rgb"`` preprocess spec (see torchserve/README.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from torchserve import archive
from torchserve.train import write_json

MODEL_NAME = "imagenet"
MODEL_VERSION = "1.0"
# torchvision's builder and weights enum per architecture; both use 256 -> 224 preprocessing.
ARCHITECTURES = {
    "resnet18": "ResNet18_Weights",
    "mobilenet_v3_small": "MobileNet_V3_Small_Weights",
}
INPUT_SIZE = 224
RGB_SPEC: dict[str, Any] = {
    "mode": "rgb",
    "resize": 256,
    "crop": INPUT_SIZE,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}


def pretrained(arch: str) -> tuple[torch.nn.Module, Any]:
    """The classifier in eval mode and its weights entry (downloads the weights once)."""
    from torchvision import models

    weights = getattr(models, ARCHITECTURES[arch]).IMAGENET1K_V1
    return getattr(models, arch)(weights=weights).eval(), weights


def traced(model: torch.nn.Module, classes: int) -> torch.jit.ScriptModule:
    """TorchScript of the model for an Nx3x224x224 batch, checked to give N x classes logits."""
    example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    with torch.no_grad():
        module = torch.jit.trace(model, example)
        shape = tuple(module(example).shape)
    if shape != (1, classes):
        raise ValueError(f"the model gives logits of shape {shape}, expected (1, {classes})")
    return module


def index_to_name(categories: Sequence[str]) -> dict[str, str]:
    return {str(index): name for index, name in enumerate(categories)}


def model_info(arch: str, weights: Any) -> dict[str, Any]:
    import torchvision

    metrics = weights.meta.get("_metrics", {}).get("ImageNet-1K", {})
    return {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "arch": arch,
        "weights": str(weights),
        "classes": len(weights.meta["categories"]),
        "imagenet_top1": metrics.get("acc@1"),
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
    }


def save_artifacts(arch: str, build_dir: Path) -> None:
    model, weights = pretrained(arch)
    categories = weights.meta["categories"]
    traced(model, len(categories)).save(str(build_dir / f"{MODEL_NAME}.pt"))
    write_json(build_dir / "index_to_name.json", index_to_name(categories))
    write_json(build_dir / "preprocess.json", RGB_SPEC)
    write_json(build_dir / "model_info.json", model_info(arch, weights))


def arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m torchserve.imagenet")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="resnet18")
    parser.add_argument("--output", type=Path, required=True, help="where to write imagenet.mar")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] = ()) -> int:
    options = arguments(argv)
    with tempfile.TemporaryDirectory(prefix="imagenet-") as folder:
        save_artifacts(options.arch, Path(folder))
        written = archive.archive_model(
            Path(folder), options.output, model_name=MODEL_NAME, version=MODEL_VERSION
        )
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
