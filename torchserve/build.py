"""Train the digits model, then archive it: ``.venv/bin/python -m torchserve.build``."""

from __future__ import annotations

import sys

from torchserve import archive, train

MIN_ACCURACY = 0.95


def main() -> int:
    result = train.main()
    if result.accuracy < MIN_ACCURACY:
        print(
            f"held-out accuracy {result.accuracy:.4f} is below {MIN_ACCURACY}; not archiving",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {archive.archive_model()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
