"""Run every benchmark and print figures and ratios: `.venv/bin/python -m bench [messages]`."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from bench import intake


def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - Postfix runs as its own user and must enter it
        for line in intake.report(intake.run(Path(tmp), messages)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
