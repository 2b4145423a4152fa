// swift-tools-version:6.0
// The NodeSpace package as apps consume it on Apple platforms: the same Swift sources as
// bindings/swift, with the C library from CNodeSpace.xcframework instead of a system
// library. scripts/build-xcframework.sh copies this file to dist/NodeSpace/Package.swift.
//
// Nothing to configure at link or run time: the framework carries libnodespace (universal
// arm64 + x86_64) and ONNX Runtime beside it, and Xcode embeds and signs it.
import PackageDescription

let package = Package(
    name: "NodeSpace",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "NodeSpace", targets: ["NodeSpace"]),
    ],
    targets: [
        // Local: the xcframework next to this file (as build-xcframework.sh lays it out).
        .binaryTarget(name: "CNodeSpace", path: "CNodeSpace.xcframework"),
        // Published instead: upload CNodeSpace.xcframework.zip with a release and use
        //   .binaryTarget(
        //       name: "CNodeSpace",
        //       url: "https://github.com/OWNER/nodespace/releases/download/vVERSION/CNodeSpace.xcframework.zip",
        //       checksum: "<dist/CNodeSpace.xcframework.zip.checksum>"
        //   ),
        .target(name: "NodeSpace", dependencies: ["CNodeSpace"]),
    ],
    swiftLanguageModes: [.v6]
)
