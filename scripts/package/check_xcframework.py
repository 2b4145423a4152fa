"""The structure test of the Swift binary package (scripts/package/swift.sh), since no Mac
runs here to load it:

    python scripts/package/check_xcframework.py SWIFT_DIR

- CNodeSpace.xcframework.zip: the xcframework's Info.plist (one macOS library,
  arm64 + x86_64, LibraryPath CNodeSpace.framework); a versioned framework whose links are
  stored as links (Versions/Current -> A, the top-level ones into Versions/Current);
  Info.plist (FMWK, CFBundleExecutable CNodeSpace); the header equal to include/nodespace.h;
  the module map (framework module CNodeSpace, umbrella header).
- Versions/A/CNodeSpace: universal with exactly arm64 and x86_64; each slice a dylib whose
  install name is @rpath/CNodeSpace.framework/Versions/A/CNodeSpace, exporting exactly the
  header's ns_* functions and linking system libraries only (scripts/check_cross.py); code
  signatures matching every page, for libnodespace's arm64 slice and every ONNX Runtime.
- ONNX Runtime: one dylib per architecture beside the binary.
- Package.swift: a binaryTarget whose checksum is the zip's SHA-256 and the .checksum
  file's, URL ending in CNodeSpace.xcframework.zip; Sources/NodeSpace equal to
  bindings/swift's. With SwiftPM's own answers (bindings/swift/test.sh --binary-package):
  `swift package dump-package` names the same URL and checksum, and `swift package
  compute-checksum` gives the same checksum (else said loudly).
Needs macholib (scripts/check_venv.sh). Exit status 1 when a check fails.
"""

import hashlib
import json
import plistlib
import re
import stat
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import check_cross  # noqa: E402
import macho  # noqa: E402

FW = "CNodeSpace.xcframework/macos-arm64_x86_64/CNodeSpace.framework/"
INSTALL_NAME = "@rpath/CNodeSpace.framework/Versions/A/CNodeSpace"
TRIPLE = {"arm64": "aarch64-apple-darwin", "x86_64": "x86_64-apple-darwin"}


def check_zip(z: zipfile.ZipFile, problems: list[str]) -> str:
    names = set(z.namelist())
    info = plistlib.loads(z.read("CNodeSpace.xcframework/Info.plist"))
    libraries = info.get("AvailableLibraries", [])
    want = {"LibraryIdentifier": "macos-arm64_x86_64", "LibraryPath": "CNodeSpace.framework",
            "SupportedPlatform": "macos"}
    if len(libraries) != 1 or any(libraries[0].get(k) != v for k, v in want.items()):
        problems.append(f"xcframework Info.plist libraries {libraries}")
    elif sorted(libraries[0].get("SupportedArchitectures", [])) != ["arm64", "x86_64"]:
        problems.append(f"architectures {libraries[0].get('SupportedArchitectures')}")
    if info.get("CFBundlePackageType") != "XFWK":
        problems.append("xcframework Info.plist is not an XFWK bundle")

    links = {"Versions/Current": "A", "CNodeSpace": "Versions/Current/CNodeSpace",
             "Headers": "Versions/Current/Headers", "Modules": "Versions/Current/Modules",
             "Resources": "Versions/Current/Resources"}
    for link, target in links.items():
        entry = z.getinfo(FW + link) if FW + link in names else None
        if entry is None or not stat.S_ISLNK(entry.external_attr >> 16) or z.read(entry).decode() != target:
            problems.append(f"{link} is not a link to {target}")

    plist = plistlib.loads(z.read(FW + "Versions/A/Resources/Info.plist"))
    if plist.get("CFBundleExecutable") != "CNodeSpace" or plist.get("CFBundlePackageType") != "FMWK":
        problems.append(f"framework Info.plist {plist}")
    if z.read(FW + "Versions/A/Headers/nodespace.h") != (ROOT / "include" / "nodespace.h").read_bytes():
        problems.append("Headers/nodespace.h differs from include/nodespace.h")
    modulemap = z.read(FW + "Versions/A/Modules/module.modulemap").decode()
    if "framework module CNodeSpace" not in modulemap or 'umbrella header "nodespace.h"' not in modulemap:
        problems.append(f"module map: {modulemap!r}")

    binary = z.read(FW + "Versions/A/CNodeSpace")
    slices = macho.slices(binary)
    if sorted(a for a, _, _ in slices) != ["arm64", "x86_64"]:
        problems.append(f"CNodeSpace slices {[a for a, _, _ in slices]}, want arm64 and x86_64")
    summaries = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch, offset, size in slices:
            image = binary[offset : offset + size]
            thin = Path(tmp) / f"CNodeSpace-{arch}"
            thin.write_bytes(image)
            found: list[str] = []
            summaries.append(check_cross.check_macos(Path(tmp), TRIPLE[arch], found, thin.name, INSTALL_NAME))
            problems += [f"{arch}: {p}" for p in found]
            if arch == "arm64" and (why := macho.signature_problem(image)):
                problems.append(f"arm64: {why}")

    runtimes = sorted(n for n in names if re.fullmatch(re.escape(FW) + r"Versions/A/libonnxruntime\..*\.dylib", n))
    archs = []
    for name in runtimes:
        image = z.read(name)
        archs += [a for a, _, _ in macho.slices(image)]
        if why := macho.signature_problem(image):
            problems.append(f"{name.rsplit('/', 1)[1]}: {why}")
    if sorted(archs) != ["arm64", "x86_64"]:
        problems.append(f"ONNX Runtime for {archs}, want one arm64 and one x86_64")
    return "; ".join(summaries) + f"; ONNX Runtime {', '.join(n.rsplit('/', 1)[1] for n in runtimes)}"


def check_package(swift_dir: Path, problems: list[str]) -> str:
    archive = swift_dir / "CNodeSpace.xcframework.zip"
    checksum = hashlib.sha256(archive.read_bytes()).hexdigest()
    if (swift_dir / "CNodeSpace.xcframework.zip.checksum").read_text().strip() != checksum:
        problems.append("the .checksum file is not the zip's SHA-256")
    manifest = (swift_dir / "NodeSpace" / "Package.swift").read_text()
    m = re.search(r'\.binaryTarget\(\s*name: "CNodeSpace",\s*url: "([^"]+)",\s*checksum: "([0-9a-f]{64})"', manifest)
    if not m:
        problems.append("Package.swift has no binaryTarget(name: CNodeSpace, url:, checksum:)")
        return "no binaryTarget"
    url, declared = m.groups()
    if declared != checksum:
        problems.append(f"Package.swift checksum {declared}, the zip's {checksum}")
    if not url.endswith("/CNodeSpace.xcframework.zip"):
        problems.append(f"binaryTarget URL {url}")
    ours = sorted(p.name for p in (swift_dir / "NodeSpace" / "Sources" / "NodeSpace").glob("*.swift"))
    theirs = sorted(p.name for p in (ROOT / "bindings" / "swift" / "Sources" / "NodeSpace").glob("*.swift"))
    if ours != theirs or any((swift_dir / "NodeSpace/Sources/NodeSpace" / n).read_bytes()
                             != (ROOT / "bindings/swift/Sources/NodeSpace" / n).read_bytes() for n in ours):
        problems.append("Sources/NodeSpace differs from bindings/swift/Sources/NodeSpace")

    dump, computed = swift_dir / "swiftpm-dump-package.json", swift_dir / "swiftpm-checksum.txt"
    if not dump.exists() or not computed.exists():
        print("*** NOT ASKED: SwiftPM's dump-package and compute-checksum (bindings/swift/test.sh --binary-package) ***")
        return f"checksum {checksum} (ours only)"
    targets = {t["name"]: t for t in json.loads(dump.read_text())["targets"]}
    binary = targets.get("CNodeSpace", {})
    if binary.get("type") != "binary" or binary.get("url") != url or binary.get("checksum") != checksum:
        problems.append(f"SwiftPM reads the CNodeSpace target as {binary}")
    if computed.read_text().strip() != checksum:
        problems.append(f"swift package compute-checksum gives {computed.read_text().strip()}, ours {checksum}")
    return f"checksum {checksum} (SwiftPM agrees)"


def main() -> int:
    swift_dir = Path(sys.argv[1])
    problems: list[str] = []
    try:
        with zipfile.ZipFile(swift_dir / "CNodeSpace.xcframework.zip") as z:
            summary = check_zip(z, problems)
        summary += "; " + check_package(swift_dir, problems)
    except Exception as e:  # an unreadable package is a failed check, with its reason
        summary, problems = "unreadable", problems + [f"{type(e).__name__}: {e}"]
    print(f"{'FAILED' if problems else 'ok'} swift package: {summary}")
    for p in problems:
        print(f"    {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
