"""Package the trained digits model and the handler into ``model_store/digits.mar``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from torchserve.train import BUILD_DIR, MODEL_NAME, MODEL_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_STORE = REPO_ROOT / "model_store"
HANDLER_FILE = Path(__file__).resolve().parent / "handler.py"
EXTRA_FILES = ("index_to_name.json", "preprocess.json", "model_info.json")


def archiver_executable() -> Path:
    """The ``torch-model-archiver`` installed in the same environment as this interpreter."""
    return Path(sys.executable).parent / "torch-model-archiver"


def archiver_command(build_dir: Path = BUILD_DIR, model_store: Path = MODEL_STORE) -> list[str]:
    return [
        str(archiver_executable()),
        "--model-name",
        MODEL_NAME,
        "--version",
        MODEL_VERSION,
        "--serialized-file",
        str(build_dir / f"{MODEL_NAME}.pt"),
        "--handler",
        str(HANDLER_FILE),
        "--extra-files",
        ",".join(str(build_dir / name) for name in EXTRA_FILES),
        "--export-path",
        str(model_store),
        "--force",
    ]


def archive_model(build_dir: Path = BUILD_DIR, model_store: Path = MODEL_STORE) -> Path:
    model_store.mkdir(parents=True, exist_ok=True)
    command = archiver_command(build_dir, model_store)
    subprocess.run(command, check=True, cwd=REPO_ROOT)  # noqa: S603
    return model_store / f"{MODEL_NAME}.mar"


def main() -> None:
    print(f"wrote {archive_model()}")


if __name__ == "__main__":
    main()
