import CNodeSpace
import Foundation

/// C memory that must outlive one native call: NUL-terminated copies of Swift strings and
/// small arrays. Freed by `release()` (call it in a `defer` right after creating the arena,
/// so the memory lives until the call has returned).
final class NativeArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    /// A NUL-terminated UTF-8 copy of `string`. A string with an embedded NUL is cut there
    /// by C, so it is rejected here instead.
    func cString(_ string: String, _ field: String) throws(NodeSpaceError) -> UnsafePointer<CChar> {
        var bytes = Array(string.utf8)
        if bytes.contains(0) {
            throw invalidArgument("\(field) contains a NUL character, which C strings cannot hold")
        }
        bytes.append(0)
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        bytes.withUnsafeBytes { raw in
            UnsafeMutableRawPointer(pointer).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
        }
        blocks.append(UnsafeMutableRawPointer(pointer))
        return UnsafePointer(pointer)
    }

    func optionalCString(_ string: String?, _ field: String) throws(NodeSpaceError) -> UnsafePointer<CChar>? {
        guard let string else { return nil }
        return try cString(string, field)
    }

    /// A C array holding `values`, never NULL (one slot even when `values` is empty, so that
    /// the library reports an empty list as such rather than as a NULL pointer).
    func array<T>(_ values: [T]) -> UnsafePointer<T> {
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(values.count, 1))
        if !values.isEmpty {
            pointer.initialize(from: values, count: values.count)
        }
        blocks.append(UnsafeMutableRawPointer(pointer))
        return UnsafePointer(pointer)
    }

    /// Frees everything. Only trivial C types (pointers, C structs of them) are stored, so
    /// there is nothing to deinitialize.
    func release() {
        for block in blocks {
            block.deallocate()
        }
        blocks.removeAll()
    }

    deinit { release() }
}

/// Runs blocking native calls off Swift's cooperative thread pool, whose few threads must
/// never wait on model loading, inference or a whole generation. Each call gets its own
/// thread: these calls take milliseconds to minutes, so a thread's start-up cost is noise,
/// and a dedicated thread can never be starved by, or starve, other work.
enum Worker {
    /// Stack for worker threads: ONNX Runtime and the tokenizer run on them.
    static let stackSize = 8 << 20

    static func start(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let job = Job(body)
        let thread = Thread { job.run() }
        thread.name = name
        thread.stackSize = stackSize
        thread.start()
    }

    /// Holds a thread's work and drops it (and everything it captured) before the thread
    /// ends. Foundation releases a Thread's block only while the thread is being torn down,
    /// after Rust's thread-locals are gone; if that released the last reference to an
    /// Embedder or Generator, its deinit would call ns_*_free there, whose thread-local
    /// error message can no longer be written (the library aborts: "cannot access a Thread
    /// Local Storage value during or after destruction").
    private final class Job: @unchecked Sendable {
        private var body: (@Sendable () -> Void)?
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        func run() {
            body?()
            body = nil // used by its one thread only
        }
    }

    /// `body`'s result, computed on a new thread; the calling task is suspended meanwhile.
    static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            start(name) { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// An `ns_cancel_token`: cancels generations from any thread (`ns_cancel_token_cancel` is
/// thread-safe and idempotent), hence Sendable. Freed in deinit, which runs only once no
/// generation can use it: every generation holds a reference until its native call returns.
final class CancelToken: @unchecked Sendable {
    let handle: OpaquePointer

    init() throws(NodeSpaceError) {
        var out: OpaquePointer?
        try check(ns_cancel_token_new(&out))
        guard let out else { throw .internal("ns_cancel_token_new returned NS_OK and no token") }
        handle = out
    }

    func cancel() {
        _ = ns_cancel_token_cancel(handle)
    }

    deinit {
        ns_cancel_token_free(handle)
    }
}

/// A C string owned by the library (or NULL) as a Swift String.
func string(_ pointer: UnsafePointer<CChar>?) -> String? {
    pointer.map { String(cString: $0) }
}
