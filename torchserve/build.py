"""Train the digits model, then archive it: ``.venv/bin/python -m torchserve.build``.

``--model-store DIR`` writes the archive there instead of ``model_store/`` (the image build).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from torchserve import archive, train

MIN_ACCURACY = 0.95


def arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m torchserve.build", description=__doc__)
    parser.add_argument(
        "--model-store", type=Path, default=archive.MODEL_STORE, help="where to write digits.mar"
    )
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] = ()) -> int:
    options = arguments(argv)
    result = train.main()
    if result.accuracy < MIN_ACCURACY:
        print(
            f"held-out accuracy {result.accuracy:.4f} is below {MIN_ACCURACY}; not archiving",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {archive.archive_model(model_store=options.model_store)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
