// swift-tools-version:6.0
// NodeSpace: Swift binding over nodespace's C ABI (include/nodespace.h).
//
// The system-library target CNodeSpace points its module map at the repository's header
// (../../include/nodespace.h), so the generated header stays the single source. At link
// time `-lnodespace` must be found: set LIBRARY_PATH (and LD_LIBRARY_PATH, or
// DYLD_LIBRARY_PATH on macOS, to run) to the folder holding libnodespace. Apps on Apple
// platforms use the binary package scripts/package.sh makes (dist/packages/swift/NodeSpace:
// a binaryTarget on CNodeSpace.xcframework.zip).
import PackageDescription

let package = Package(
    name: "NodeSpace",
    platforms: [.macOS(.v13), .iOS(.v16)],
    products: [
        .library(name: "NodeSpace", targets: ["NodeSpace"]),
    ],
    targets: [
        .systemLibrary(name: "CNodeSpace", path: "Sources/CNodeSpace"),
        .target(name: "NodeSpace", dependencies: ["CNodeSpace"]),
        .testTarget(name: "NodeSpaceTests", dependencies: ["NodeSpace"]),
    ],
    swiftLanguageModes: [.v6]
)
