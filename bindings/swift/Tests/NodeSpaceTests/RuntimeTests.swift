import Foundation
@testable import NodeSpace
import Testing

@Suite struct RuntimeTests {
    @Test("library and ABI versions")
    func versions() {
        let version = NodeSpaceRuntime.version
        #expect(version.split(separator: ".").count >= 3, "\(version)")
        #expect(NodeSpaceRuntime.abiVersion == NodeSpaceRuntime.headerABIVersion)
    }

    @Test("ONNX Runtime loads and reports its version")
    func onnxRuntime() throws {
        try NodeSpaceRuntime.initialize() // found through NS_ONNXRUNTIME_PATH
        let version = try NodeSpaceRuntime.onnxRuntimeVersion()
        #expect(version.first?.isNumber == true, "\(version)")
        if let path = ProcessInfo.processInfo.environment["NS_ONNXRUNTIME_PATH"], path.contains(".so.") {
            #expect(path.hasSuffix(".so." + version), "\(path) vs \(version)")
        }
        // Once a runtime is loaded, another path is refused, naming the problem.
        let error = nodespaceError { try NodeSpaceRuntime.initialize(onnxRuntimePath: "/no/such/libonnxruntime.so") }
        #expect(error?.status == 1 || error?.status == 9, "\(String(describing: error))")
        #expect(error?.message.isEmpty == false)
    }

    @Test("every status maps to its case, its name and back")
    func statuses() {
        for status in Int32(1) ... 16 {
            let error = NodeSpaceError(status: status, message: "m")
            #expect(error.status == status)
            #expect(error.message == "m")
            #expect(error.statusName.hasPrefix("NS_ERR_"))
            #expect(error.statusName != "NS_ERR_UNKNOWN")
            if case .unknown = error { Issue.record("status \(status) is unknown to the binding") }
        }
        #expect(NodeSpaceError(status: 6, message: "x") == .modelNotFound("x"))
        #expect(NodeSpaceError(status: 11, message: "x").statusName == "NS_ERR_CANCELLED")
        let unknown = NodeSpaceError(status: 999, message: "later")
        #expect(unknown == .unknown(status: 999, message: "later"))
        #expect(unknown.statusName == "NS_ERR_UNKNOWN")
        #expect("\(NodeSpaceError.io("disk"))" == "NS_ERR_IO: disk")
    }

    @Test("the log handler receives the library's messages, and can be removed")
    func logHandler() throws {
        let messages = LogSink()
        try NodeSpaceRuntime.setLogHandler(maxLevel: .debug) { level, message in
            messages.append(level, message)
        }
        _ = try Embedder(options: EmbedderOptions(modelPath: Fixtures.tiny("embed-bert")))
        try NodeSpaceRuntime.setLogHandler(nil)
        let seen = messages.all
        #expect(!seen.isEmpty, "no log message while loading a model")
        #expect(seen.allSatisfy { !$0.1.isEmpty })
    }
}

final class LogSink: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(LogLevel, String)] = []
    func append(_ level: LogLevel, _ message: String) { lock.withLock { entries.append((level, message)) } }
    var all: [(LogLevel, String)] { lock.withLock { entries } }
}
