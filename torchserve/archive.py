"""Package a trained model and the handler into a TorchServe archive.

By default the digits model from ``torchserve/build/`` into ``model_store/digits.mar``;
``torchserve.imagenet`` passes its own build folder, name and version.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from torchserve.train import BUILD_DIR, MODEL_NAME, MODEL_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_STORE = REPO_ROOT / "model_store"
HANDLER_FILE = Path(__file__).resolve().parent / "handler.py"
EXTRA_FILES = ("index_to_name.json", "preprocess.json", "model_info.json")


def archiver_executable() -> Path:
    """The ``torch-model-archiver`` installed in the same environment as this interpreter."""
    return Path(sys.executable).parent / "torch-model-archiver"


def archiver_command(
    build_dir: Path = BUILD_DIR,
    model_store: Path = MODEL_STORE,
    *,
    model_name: str = MODEL_NAME,
    version: str = MODEL_VERSION,
) -> list[str]:
    return [
        str(archiver_executable()),
        "--model-name",
        model_name,
        "--version",
        version,
        "--serialized-file",
        str(build_dir / f"{model_name}.pt"),
        "--handler",
        str(HANDLER_FILE),
        "--extra-files",
        ",".join(str(build_dir / name) for name in EXTRA_FILES),
        "--export-path",
        str(model_store),
        "--force",
    ]


def archive_model(
    build_dir: Path = BUILD_DIR,
    model_store: Path = MODEL_STORE,
    *,
    model_name: str = MODEL_NAME,
    version: str = MODEL_VERSION,
) -> Path:
    # The archiver runs from the repository root: relative folders mean the caller's.
    build_dir, model_store = build_dir.resolve(), model_store.resolve()
    model_store.mkdir(parents=True, exist_ok=True)
    command = archiver_command(build_dir, model_store, model_name=model_name, version=version)
    subprocess.run(command, check=True, cwd=REPO_ROOT)  # noqa: S603
    return model_store / f"{model_name}.mar"


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(prog="python -m torchserve.archive")
    parser.add_argument("--model-store", type=Path, default=MODEL_STORE, help="output folder")
    options = parser.parse_args(list(argv))
    print(f"wrote {archive_model(model_store=options.model_store)}")


if __name__ == "__main__":
    main(sys.argv[1:])
