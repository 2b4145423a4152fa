"""``python3 models/convert MODEL``: see pipeline.py (``--help`` lists the options)."""

import sys
from pathlib import Path

if not __package__:
    # Run as a folder: import the package by its name, with models/ (not this folder) on
    # the path, so the package's modules never shadow installed ones.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))

from convert.pipeline import main  # noqa: E402

sys.exit(main())
