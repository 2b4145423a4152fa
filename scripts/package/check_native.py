"""Checks stage 1 of the packages (scripts/package/native.sh): per platform folder, the
nodespace library is stripped and still exports exactly the header's ns_* functions, and
ONNX Runtime lies beside it.

    python scripts/package/check_native.py OUT_DIR PLATFORM...

Linux: no .debug_* section, a .gnu_debuglink to the debug file. Windows: no COFF symbol
table; the rest as scripts/check_cross.py checks a build. macOS: no local symbols, the
checks of scripts/check_cross.py, and on arm64 a code signature that matches every page
(stripping rewrites the file; llvm-objcopy signs it again). Needs pefile and macholib
(scripts/check_venv.sh). Exit status 1 when a check fails.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import check_cross  # noqa: E402
import macho  # noqa: E402

LIBRARY = {"linux-x64": "libnodespace.so", "win32-x64": "nodespace.dll",
           "darwin-arm64": "libnodespace.dylib", "darwin-x64": "libnodespace.dylib"}
RUNTIME = {"linux-x64": "libonnxruntime.so.*", "win32-x64": "onnxruntime.dll",
           "darwin-arm64": "libonnxruntime.*.dylib", "darwin-x64": "libonnxruntime.*.dylib"}
TRIPLE = {"darwin-arm64": "aarch64-apple-darwin", "darwin-x64": "x86_64-apple-darwin"}


def check_linux(folder: Path, problems: list[str]) -> str:
    lib = folder / LIBRARY["linux-x64"]
    sections = subprocess.run(["readelf", "-S", "--wide", str(lib)], check=True,
                              capture_output=True, text=True).stdout
    if ".debug_" in sections:
        problems.append("debug sections left in the library")
    if ".gnu_debuglink" not in sections:
        problems.append("no .gnu_debuglink to the debug file")
    dynamic = subprocess.run(["nm", "-D", "--defined-only", str(lib)], check=True,
                             capture_output=True, text=True).stdout
    exported = {line.split()[-1] for line in dynamic.splitlines() if " T " in line}
    check_cross.check_exports(exported, problems)
    return f"ELF, {len(exported)} exports, {lib.stat().st_size / 1e6:.1f} MB"


def check_windows(folder: Path, problems: list[str]) -> str:
    import pefile

    summary = check_cross.check_windows(folder, problems, import_library=False)
    pe = pefile.PE(str(folder / LIBRARY["win32-x64"]), fast_load=True)
    if pe.FILE_HEADER.NumberOfSymbols or pe.FILE_HEADER.PointerToSymbolTable:
        problems.append(f"COFF symbol table left ({pe.FILE_HEADER.NumberOfSymbols} symbols)")
    return summary


def check_macos(folder: Path, platform: str, problems: list[str]) -> str:
    summary = check_cross.check_macos(folder, TRIPLE[platform], problems)
    image = (folder / LIBRARY[platform]).read_bytes()
    if n := macho.local_symbols(image):
        problems.append(f"{n} local symbols left")
    if platform == "darwin-arm64" and (why := macho.signature_problem(image)):
        problems.append(why)
    for runtime in folder.glob(RUNTIME[platform]):
        if why := macho.signature_problem(runtime.read_bytes()):
            problems.append(f"{runtime.name}: {why}")
    return summary + (", signature matches" if platform == "darwin-arm64" else "") + ", ONNX Runtime signed"


def main() -> int:
    out, platforms = Path(sys.argv[1]), sys.argv[2:]
    failed = False
    for platform in platforms:
        folder = out / platform
        problems: list[str] = []
        if not list(folder.glob(RUNTIME[platform])):
            problems.append(f"no ONNX Runtime ({RUNTIME[platform]}) beside the library")
        try:
            if platform == "linux-x64":
                summary = check_linux(folder, problems)
            elif platform == "win32-x64":
                summary = check_windows(folder, problems)
            else:
                summary = check_macos(folder, platform, problems)
        except Exception as e:  # an unreadable file is a failed check, with its reason
            summary, problems = "unreadable", problems + [f"{type(e).__name__}: {e}"]
        failed |= bool(problems)
        print(f"{'FAILED' if problems else 'ok'} {platform}: {summary}")
        for p in problems:
            print(f"    {p}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
