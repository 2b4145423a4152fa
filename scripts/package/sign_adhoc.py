"""Signs unsigned thin Mach-O files ad hoc, in place (macho.adhoc_sign); signed ones are left
as they are. Each result is checked page by page.

    python3 scripts/package/sign_adhoc.py FILE...
"""

import sys
from pathlib import Path

import macho

for name in sys.argv[1:]:
    path = Path(name)
    image = path.read_bytes()
    if macho.signature_problem(image) is None:
        continue
    signed = macho.adhoc_sign(image, path.name.removesuffix(".dylib"))
    if why := macho.signature_problem(signed):
        sys.exit(f"{path}: signing failed: {why}")
    path.write_bytes(signed)
    print(f"{path.name}: signed ad hoc")
