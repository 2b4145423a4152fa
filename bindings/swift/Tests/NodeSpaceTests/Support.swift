import Foundation
import NodeSpace
import Testing

/// Paths and reference data shared by the tests.
enum Fixtures {
    /// The repository root: NS_REPO_ROOT, else the folder this file is four levels below
    /// (bindings/swift/Tests/NodeSpaceTests/Support.swift): five path components up.
    static let repoRoot: URL = {
        if let root = ProcessInfo.processInfo.environment["NS_REPO_ROOT"], !root.isEmpty {
            return URL(fileURLWithPath: root)
        }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0 ..< 5 { url.deleteLastPathComponent() }
        return url
    }()

    static func tiny(_ name: String) -> String {
        repoRoot.appendingPathComponent("models/tiny/\(name)").path
    }

    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    /// A JSON object from a file, or a recorded failure naming the file.
    static func json(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureError("\(path) is not a JSON object")
        }
        return object
    }

    static func expected(_ model: String) throws -> [String: Any] {
        try json(tiny(model) + "/expected.json")
    }

    /// A real model's folder (models/real/NAME, or under NS_REAL_MODELS), or nil after a loud
    /// notice: the test then passes without checking anything. With NS_REQUIRE_REAL_MODELS
    /// set (as CI does) a missing model is a failure instead.
    static func realModel(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let env = ProcessInfo.processInfo.environment
        let base = env["NS_REAL_MODELS"].flatMap { $0.isEmpty ? nil : $0 } ?? repoRoot.appendingPathComponent("models/real").path
        let dir = base + "/" + name
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue {
            return dir
        }
        print("\n*** SKIPPED: real model \(dir) is not installed (run scripts/setup.sh). CI installs it and runs this test. ***\n")
        if let required = env["NS_REQUIRE_REAL_MODELS"], !required.isEmpty {
            Issue.record("NS_REQUIRE_REAL_MODELS is set but \(dir) is missing", sourceLocation: sourceLocation)
        }
        return nil
    }

    /// Reference outputs of the Rust CLI, written by test.sh (scripts/make_reference.py)
    /// before entering the chroot: NS_SWIFT_REFERENCE or target/swift/reference.
    static func reference(_ file: String) throws -> [String: Any] {
        let env = ProcessInfo.processInfo.environment
        let dir = env["NS_SWIFT_REFERENCE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? repoRoot.appendingPathComponent("target/swift/reference").path
        let path = dir + "/" + file
        guard exists(path) else {
            throw FixtureError("\(path) is missing: run bindings/swift/test.sh, which writes it with the Rust CLI")
        }
        return try json(path)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func strings(_ value: Any?) throws -> [String] {
    guard let list = value as? [String] else { throw FixtureError("not a list of strings: \(String(describing: value))") }
    return list
}

func floats(_ value: Any?) throws -> [Float] {
    guard let list = value as? [Any] else { throw FixtureError("not a list: \(String(describing: value))") }
    return try list.map {
        guard let n = $0 as? NSNumber else { throw FixtureError("not a number: \($0)") }
        return n.floatValue
    }
}

func matrix(_ value: Any?) throws -> [[Float]] {
    guard let rows = value as? [Any] else { throw FixtureError("not a list of rows: \(String(describing: value))") }
    return try rows.map(floats)
}

func ints(_ value: Any?) throws -> [Int] {
    guard let list = value as? [Any] else { throw FixtureError("not a list: \(String(describing: value))") }
    return try list.map {
        guard let n = $0 as? NSNumber else { throw FixtureError("not a number: \($0)") }
        return n.intValue
    }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "lengths \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

func norm(_ v: [Float]) -> Float {
    v.map { $0 * $0 }.reduce(0, +).squareRoot()
}

func cosine(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { $0 * $1 }.reduce(0, +) / (norm(a) * norm(b))
}

/// A one-shot gate between threads (tests order a generation's steps with it).
final class Gate: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    func open() { semaphore.signal() }
    /// Waits on the calling thread (a generation's own thread, never the test's).
    func wait(seconds: Double = 30) -> Bool { semaphore.wait(timeout: .now() + seconds) == .success }
}

/// A value set once from another thread and awaited.
final class Box<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    private var waiters: [CheckedContinuation<T, Never>] = []

    func set(_ newValue: T) {
        let toResume: [CheckedContinuation<T, Never>] = lock.withLock {
            value = newValue
            defer { waiters = [] }
            return waiters
        }
        for w in toResume { w.resume(returning: newValue) }
    }

    func get() async -> T {
        await withCheckedContinuation { continuation in
            let ready: T? = lock.withLock {
                if let value { return value }
                waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// The NodeSpaceError that `body` throws; a recorded issue (and nil) when it throws nothing
/// or something else.
func nodespaceError<T>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T) -> NodeSpaceError? {
    do {
        _ = try body()
        Issue.record("expected a NodeSpaceError, but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as NodeSpaceError {
        return error
    } catch {
        Issue.record("expected a NodeSpaceError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

func nodespaceError<T>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async -> NodeSpaceError? {
    do {
        _ = try await body()
        Issue.record("expected a NodeSpaceError, but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as NodeSpaceError {
        return error
    } catch {
        Issue.record("expected a NodeSpaceError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
