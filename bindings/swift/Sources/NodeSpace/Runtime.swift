import CNodeSpace
import Foundation

/// Log levels for `NodeSpaceRuntime.setLogHandler` (`NS_LOG_*`), most severe first.
public enum LogLevel: Int32, Sendable, CaseIterable, Comparable {
    case error = 1
    case warn = 2
    case info = 3
    case debug = 4

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// Process-wide parts of the library: versions, loading ONNX Runtime, logging.
public enum NodeSpaceRuntime {
    /// The library's version, e.g. "0.1.0".
    public static var version: String { String(cString: ns_version()) }

    /// The C ABI version the loaded library implements.
    public static var abiVersion: UInt32 { ns_abi_version() }

    /// The C ABI version this binding was compiled against (`NS_ABI_VERSION`).
    public static var headerABIVersion: UInt32 { UInt32(NS_ABI_VERSION) }

    /// Loads ONNX Runtime now instead of at the first model load, so that a missing runtime
    /// is reported here. `onnxRuntimePath` nil: search (NS_ONNXRUNTIME_PATH, ORT_DYLIB_PATH,
    /// beside libnodespace, beside the executable, the system loader). Optional; once a
    /// runtime is loaded a different path is `.invalidArgument`.
    public static func initialize(onnxRuntimePath: String? = nil) throws {
        let arena = NativeArena()
        defer { arena.release() }
        var options = ns_runtime_options()
        try check(ns_runtime_options_init(&options, MemoryLayout<ns_runtime_options>.size))
        options.onnxruntime_path = try arena.optionalCString(onnxRuntimePath, "onnxRuntimePath")
        try check(ns_runtime_init(&options))
    }

    /// The loaded ONNX Runtime's version (e.g. "1.31.1"), loading it if needed.
    public static func onnxRuntimeVersion() throws -> String {
        var capacity = 32
        while true {
            var buffer = [CChar](repeating: 0, count: capacity)
            let status = buffer.withUnsafeMutableBufferPointer { ns_runtime_version($0.baseAddress, $0.count) }
            if status == NS_ERR_BUFFER_TOO_SMALL && capacity < 4096 {
                capacity *= 4
                continue
            }
            try check(status)
            return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
    }

    /// Sends nodespace's diagnostics and ONNX Runtime's log, up to `maxLevel`, to `handler`;
    /// nil removes it. The handler runs on whichever thread logs, possibly several at once
    /// and from inside other nodespace calls: it must be quick and must not call nodespace.
    public static func setLogHandler(maxLevel: LogLevel = .info, _ handler: (@Sendable (LogLevel, String) -> Void)?) throws {
        LogRouter.shared.set(handler)
        guard handler != nil else {
            try check(ns_set_log_callback(nil, nil, maxLevel.rawValue))
            return
        }
        let context = Unmanaged.passUnretained(LogRouter.shared).toOpaque()
        try check(ns_set_log_callback({ level, message, userData in
            guard let userData, let message else { return }
            let router = Unmanaged<LogRouter>.fromOpaque(userData).takeUnretainedValue()
            router.deliver(LogLevel(rawValue: level) ?? .debug, String(cString: message))
        }, context, maxLevel.rawValue))
    }
}

/// The one log callback context, alive for the whole process, so the library may call it
/// from any thread at any time, even while the handler is being replaced.
private final class LogRouter: @unchecked Sendable {
    static let shared = LogRouter()
    private let lock = NSLock()
    private var handler: (@Sendable (LogLevel, String) -> Void)?

    func set(_ handler: (@Sendable (LogLevel, String) -> Void)?) {
        lock.withLock { self.handler = handler }
    }

    func deliver(_ level: LogLevel, _ message: String) {
        let handler = lock.withLock { self.handler }
        handler?(level, message)
    }
}
