// swift-tools-version:6.0
// Quickstart for the NodeSpace Swift package (bindings/swift), used here by path. An app
// outside this repository depends on the binary package instead (see
// bindings/swift/README.md, "Apps on Apple platforms").
import PackageDescription

let package = Package(
    name: "NodeSpaceQuickstart",
    platforms: [.macOS(.v13)],
    dependencies: [
        // SwiftPM names a path dependency after its folder ("swift"); the example lives in
        // its own folder (Quickstart) so that the two package names differ.
        .package(path: "../../../bindings/swift"),
    ],
    targets: [
        .executableTarget(name: "Quickstart", dependencies: [.product(name: "NodeSpace", package: "swift")]),
    ],
    swiftLanguageModes: [.v6]
)
