"""Checks Windows and macOS builds of nodespace without running them.

    python3 scripts/check_cross.py TRIPLE FOLDER [TRIPLE FOLDER...]

Per artifact: the file type and architecture; exactly the header's ns_* functions exported
(nothing of the statically linked C code, such as oniguruma's Onig*, nor Rust's symbols;
on macOS beside the four symbols of MACHO_TOOLCHAIN); Windows: the DLL
imports only system DLLs (no MinGW runtime DLL a user would not have, no ONNX Runtime:
that is loaded at run time) and the import library names nodespace.dll; macOS: the
install name is @rpath/libnodespace.dylib and only system libraries are linked.
Reads the files with pefile and macholib (PyPI), so no platform tools are needed.
Exit status 1 when a check fails, with every failure listed.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Windows DLLs every supported Windows (10 and later) has.
WINDOWS_SYSTEM = re.compile(
    r"(kernel32|ntdll|msvcrt|userenv|ws2_32|advapi32|bcrypt|bcryptprimitives|ole32|oleaut32|"
    r"shell32|user32|api-ms-win-[a-z0-9-]+)\.dll",
    re.I,
)
MACHO_CPU = {"aarch64-apple-darwin": 0x0100000C, "x86_64-apple-darwin": 0x01000007}
# Exported from the dylib beside the C ABI, by the toolchain: the image-header symbols the
# linker defines in every dylib, and the `@available` helpers of Rust's std (weak) and
# zig's compiler-rt, which C code calls by these names. zig's linker ignores
# exported-symbol lists, so scripts/cross.sh hides everything else at compile time.
MACHO_TOOLCHAIN = {"_mh_dylib_header", "__dso_handle", "__isOSVersionAtLeast", "__isPlatformVersionAtLeast"}
N_PEXT = 0x10


def header_functions() -> set[str]:
    text = (ROOT / "include" / "nodespace.h").read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return set(re.findall(r"\b(ns_\w+)\s*\(", text))


def check_exports(exported: set[str], problems: list[str]) -> None:
    want = header_functions()
    if missing := sorted(want - exported):
        problems.append(f"header functions not exported: {', '.join(missing)}")
    if extra := sorted(exported - want):
        shown = ", ".join(extra[:8]) + (f" and {len(extra) - 8} more" if len(extra) > 8 else "")
        problems.append(f"exported beyond the C ABI: {shown}")


def check_windows(folder: Path, problems: list[str], import_library: bool = True) -> str:
    import pefile

    dll = folder / "nodespace.dll"
    pe = pefile.PE(str(dll))
    if pe.FILE_HEADER.Machine != 0x8664:
        problems.append(f"machine {pe.FILE_HEADER.Machine:#x}, want AMD64 (0x8664)")
    if not pe.is_dll():
        problems.append("not a DLL")
    exports = {s.name.decode() for s in pe.DIRECTORY_ENTRY_EXPORT.symbols if s.name}
    check_exports(exports, problems)
    imports = sorted({i.dll.decode().lower() for i in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])})
    if foreign := [d for d in imports if not WINDOWS_SYSTEM.fullmatch(d)]:
        problems.append(f"imports DLLs a Windows machine does not have: {', '.join(foreign)}")
    implib = folder / "nodespace.dll.a"
    if import_library and (not implib.is_file() or not implib.read_bytes().startswith(b"!<arch>\n")):
        problems.append(f"{implib.name}: missing or not an import library (ar archive)")
    elif import_library and b"nodespace.dll" not in implib.read_bytes():
        problems.append(f"{implib.name} does not name nodespace.dll")
    size = dll.stat().st_size / 1e6
    return f"PE32+ DLL, x86-64, {len(exports)} exports, imports {', '.join(imports)}, {size:.1f} MB"


def check_macos(folder: Path, triple: str, problems: list[str], name: str = "libnodespace.dylib",
                install_name: str = "@rpath/libnodespace.dylib") -> str:
    from macholib.mach_o import LC_ID_DYLIB, LC_LOAD_DYLIB, MH_DYLIB
    from macholib.MachO import MachO
    from macholib.SymbolTable import SymbolTable

    dylib = folder / name
    macho = MachO(str(dylib))
    if len(macho.headers) != 1:
        problems.append(f"{len(macho.headers)} architectures, want one")
    header = macho.headers[0]
    if header.header.cputype != MACHO_CPU[triple]:
        problems.append(f"cpu type {header.header.cputype:#x}, want {MACHO_CPU[triple]:#x}")
    if header.filetype != MH_DYLIB and header.header.filetype != MH_DYLIB:
        problems.append("not a dynamic library (MH_DYLIB)")
    names = {LC_ID_DYLIB: [], LC_LOAD_DYLIB: []}
    for load, command, data in header.commands:
        if load.cmd in names:
            names[load.cmd].append(data.rstrip(b"\0").decode())
    if names[LC_ID_DYLIB] != [install_name]:
        problems.append(f"install name {names[LC_ID_DYLIB]}, want {install_name}")
    linked = names[LC_LOAD_DYLIB]
    if foreign := [d for d in linked if not d.startswith(("/usr/lib/", "/System/Library/"))]:
        problems.append(f"links libraries a Mac does not have: {', '.join(foreign)}")
    symbols = SymbolTable(macho, header)
    exports = {
        name.decode().removeprefix("_")
        for nlist, name in symbols.extdefsyms
        if not nlist.n_type & N_PEXT
    }
    check_exports(exports - MACHO_TOOLCHAIN, problems)
    size = dylib.stat().st_size / 1e6
    return (
        f"Mach-O dylib, {triple.split('-')[0]}, install name {names[LC_ID_DYLIB][0] if names[LC_ID_DYLIB] else '?'}, "
        f"{len(exports - MACHO_TOOLCHAIN)} exports (+ {len(exports & MACHO_TOOLCHAIN)} of the toolchain), links {len(linked)} system libraries, {size:.1f} MB"
    )


def main() -> int:
    failed = False
    args = sys.argv[1:]
    for triple, folder in zip(args[::2], map(Path, args[1::2])):
        problems: list[str] = []
        try:
            if "windows" in triple:
                summary = check_windows(folder, problems)
            else:
                summary = check_macos(folder, triple, problems)
        except Exception as e:  # an unreadable file is a failed check, with its reason
            summary, problems = "unreadable", [f"{type(e).__name__}: {e}"]
        if problems:
            failed = True
            print(f"FAILED {triple}: {summary}")
            for p in problems:
                print(f"    {p}")
        else:
            print(f"ok {triple}: {summary}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
