"""Makes the exported functions of Rust libraries (rlibs) for macOS private to the dylib.

    python3 scripts/macho_hide.py [--keep PREFIX] RLIB [RLIB...]

rustc exports every #[no_mangle] function of every crate linked into a cdylib
(rust-lang/rust#73958): llguidance's own C API (llg_*) would be exported from
libnodespace.dylib beside ours. ld64 would cut the exports to the list rustc hands it, but
zig's Mach-O linker (what cross.sh links macOS with) ignores that list, and
-Zdefault-visibility=hidden leaves #[no_mangle] functions visible. What zig's linker does
honour is a symbol's private-extern bit (N_PEXT): such a symbol links within the dylib and
is not exported. So each Mach-O object in the given archives gets N_PEXT on every external
symbol it defines, except names starting with a --keep prefix (default: _ns_, the C ABI).

The archives are changed in place, byte for byte the same size (a bit per symbol), with
their modification times kept (cargo compares those: a newer rlib would rebuild every crate
above it, unpatched); running it again changes nothing. Prints how many symbols it made
private, per archive and in all ("hidden: N").
"""

import os

import struct
import sys
from pathlib import Path

MH_MAGIC_64 = 0xFEEDFACF
LC_SYMTAB = 0x2
N_PEXT = 0x10
N_TYPE = 0x0E
N_EXT = 0x01
N_SECT = 0x0E


def hide_in_object(data: bytearray, start: int, keep: tuple[str, ...]) -> list[str]:
    """Set N_PEXT on the defined external symbols of the Mach-O object at data[start:]."""
    magic, _cpu, _sub, _type, ncmds, _size, _flags, _res = struct.unpack_from("<8I", data, start)
    if magic != MH_MAGIC_64:
        return []
    hidden = []
    offset = start + 32
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<2I", data, offset)
        if cmd == LC_SYMTAB:
            symoff, nsyms, stroff, _strsize = struct.unpack_from("<4I", data, offset + 8)
            for i in range(nsyms):
                entry = start + symoff + 16 * i
                strx, n_type = struct.unpack_from("<IB", data, entry)
                if not n_type & N_EXT or n_type & N_TYPE != N_SECT or n_type & N_PEXT:
                    continue
                name_at = start + stroff + strx
                name = bytes(data[name_at : data.index(0, name_at)]).decode("utf-8", "replace")
                if name.startswith(keep):
                    continue
                data[entry + 4] = n_type | N_PEXT
                hidden.append(name)
        offset += cmdsize
    return hidden


def hide_in_archive(path: Path, keep: tuple[str, ...]) -> list[str]:
    """Each member of the ar archive `path` that is a 64-bit Mach-O object."""
    data = bytearray(path.read_bytes())
    if data[:8] != b"!<arch>\n":
        raise SystemExit(f"{path}: not an ar archive")
    hidden = []
    offset = 8
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name = header[:16].decode("ascii", "replace").strip()
        size = int(header[48:58].decode("ascii").strip())
        body = offset + 60
        # BSD long names (what rustc writes for Apple targets): "#1/<n>", the name first in the body.
        name_len = int(name[3:]) if name.startswith("#1/") else 0
        if size - name_len >= 32:
            hidden += hide_in_object(data, body + name_len, keep)
        offset = body + size + (size & 1)
    if hidden:
        times = path.stat()
        path.write_bytes(bytes(data))
        os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))
    return hidden


def main() -> None:
    args = sys.argv[1:]
    keep = ["_ns_"]
    while args and args[0] == "--keep":
        keep.append(args[1])
        args = args[2:]
    if not args:
        raise SystemExit(__doc__)
    total = 0
    for rlib in args:
        hidden = hide_in_archive(Path(rlib), tuple(keep))
        total += len(hidden)
        if hidden:
            print(f"{Path(rlib).name}: {len(hidden)} symbols made private to the dylib ({', '.join(sorted(hidden)[:4])}{', ...' if len(hidden) > 4 else ''})")
    print(f"hidden: {total}")


if __name__ == "__main__":
    main()
