"""Builds CNodeSpace.xcframework.zip and the binary Swift package around it, from the two
macOS builds, without Xcode (what xcodebuild -create-xcframework, lipo and ditto do on a
Mac).

    python3 xcframework.py ARM64_DYLIB X86_64_DYLIB ARM64_ORT_DIR X86_64_ORT_DIR OUT_DIR URL_BASE

The dylibs must already carry the framework's install name
(@rpath/CNodeSpace.framework/Versions/A/CNodeSpace; swift.sh sets it and llvm-objcopy signs
arm64 again). Writes to OUT_DIR:
    CNodeSpace.xcframework.zip      macos-arm64_x86_64/CNodeSpace.framework, versioned:
        Versions/A/CNodeSpace       universal (arm64 + x86_64) libnodespace
        Versions/A/libonnxruntime.<v>.dylib   one per architecture (arm64 1.31.1, x86_64
                                    1.23.2): libnodespace tries each beside itself and
                                    loads the one of its own architecture (signed by
                                    native.sh: nested code must come signed)
        Versions/A/Headers/nodespace.h, Modules/module.modulemap, Resources/Info.plist
        Versions/Current -> A, and the top-level links
    CNodeSpace.xcframework.zip.checksum   SHA-256 of the zip (`swift package compute-checksum`)
    NodeSpace/Package.swift         binaryTarget(url: URL_BASE/CNodeSpace.xcframework.zip, checksum:)
    NodeSpace/Sources/NodeSpace/    the binding's Swift sources
"""

import hashlib
import os
import plistlib
import shutil
import stat
import sys
import zipfile
from pathlib import Path

import macho

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORK = "CNodeSpace.framework"
MIN_MACOS = "13.0"
MODULE_MAP = """framework module CNodeSpace [system] {
    umbrella header "nodespace.h"
    export *
}
"""


def version() -> str:
    for line in (ROOT / "Cargo.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise SystemExit("no version in Cargo.toml")


def framework_files(arm64: Path, x86_64: Path, ort_dirs: list[Path]) -> dict[str, bytes | str]:
    """Path inside the framework -> file bytes, or str for a symbolic link's target."""
    v = version()
    files: dict[str, bytes | str] = {
        "Versions/A/CNodeSpace": macho.make_universal([arm64.read_bytes(), x86_64.read_bytes()]),
        "Versions/A/Headers/nodespace.h": (ROOT / "include" / "nodespace.h").read_bytes(),
        "Versions/A/Modules/module.modulemap": MODULE_MAP.encode(),
        "Versions/A/Resources/Info.plist": plistlib.dumps({
            "CFBundleExecutable": "CNodeSpace",
            "CFBundleIdentifier": "org.nodespace.CNodeSpace",
            "CFBundleName": "CNodeSpace",
            "CFBundlePackageType": "FMWK",
            "CFBundleShortVersionString": v,
            "CFBundleVersion": v,
            "LSMinimumSystemVersion": MIN_MACOS,
        }),
        "Versions/Current": "A",
    }
    for d in ort_dirs:
        for f in sorted(d.glob("libonnxruntime.*.dylib")):
            files[f"Versions/A/{f.name}"] = f.read_bytes()
        for f in sorted(d.glob("onnxruntime-*.txt")):
            files[f"Versions/A/Resources/{f.stem}-{d.name}.txt"] = f.read_bytes()
    for top in ("CNodeSpace", "Headers", "Modules", "Resources"):
        files[top] = f"Versions/Current/{top}"
    return files


def xcframework_plist() -> bytes:
    return plistlib.dumps({
        "AvailableLibraries": [{
            "LibraryIdentifier": "macos-arm64_x86_64",
            "LibraryPath": FRAMEWORK,
            "SupportedArchitectures": ["arm64", "x86_64"],
            "SupportedPlatform": "macos",
        }],
        "CFBundlePackageType": "XFWK",
        "XCFrameworkFormatVersion": "1.0",
    })


def write_zip(target: Path, framework: dict[str, bytes | str]) -> None:
    """The zip as `ditto -c -k --keepParent` makes it: links stored as links."""
    base = "CNodeSpace.xcframework"
    entries = {f"{base}/Info.plist": xcframework_plist()}
    entries.update({f"{base}/macos-arm64_x86_64/{FRAMEWORK}/{k}": v for k, v in framework.items()})
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(entries):
            content = entries[name]
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.create_system = 3  # Unix: the mode bits below are read
            if isinstance(content, str):
                info.external_attr = (stat.S_IFLNK | 0o755) << 16
                z.writestr(info, content)
            else:
                executable = name.endswith("/CNodeSpace") or name.endswith(".dylib")
                info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, content)


def package_swift(url: str, checksum: str) -> str:
    return f"""// swift-tools-version:6.0
// NodeSpace for apps on macOS: the Swift binding over CNodeSpace.xcframework (libnodespace,
// universal arm64 + x86_64, with ONNX Runtime inside the framework). Made by
// scripts/package.sh; nothing to configure at link or run time: Xcode embeds and signs the
// framework, and libnodespace finds ONNX Runtime beside itself.
import PackageDescription

let package = Package(
    name: "NodeSpace",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "NodeSpace", targets: ["NodeSpace"]),
    ],
    targets: [
        .binaryTarget(
            name: "CNodeSpace",
            url: "{url}",
            checksum: "{checksum}"
        ),
        .target(name: "NodeSpace", dependencies: ["CNodeSpace"]),
    ],
    swiftLanguageModes: [.v6]
)
"""


def main() -> None:
    arm64, x86_64, ort_arm64, ort_x86_64, out, url_base = sys.argv[1:7]
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    framework = framework_files(Path(arm64), Path(x86_64), [Path(ort_arm64), Path(ort_x86_64)])
    archive = out_dir / "CNodeSpace.xcframework.zip"
    write_zip(archive, framework)
    checksum = hashlib.sha256(archive.read_bytes()).hexdigest()
    (out_dir / "CNodeSpace.xcframework.zip.checksum").write_text(checksum + "\n")
    pkg = out_dir / "NodeSpace"
    shutil.rmtree(pkg, ignore_errors=True)
    shutil.copytree(ROOT / "bindings" / "swift" / "Sources" / "NodeSpace", pkg / "Sources" / "NodeSpace")
    url = f"{url_base.rstrip('/')}/CNodeSpace.xcframework.zip"
    (pkg / "Package.swift").write_text(package_swift(url, checksum))
    size = os.path.getsize(archive) / 1e6
    print(f"swift: {archive} ({size:.1f} MB), checksum {checksum}")


if __name__ == "__main__":
    main()
