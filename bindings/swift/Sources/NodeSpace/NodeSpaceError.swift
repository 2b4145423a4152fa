import CNodeSpace

/// A failed nodespace call: one case per `ns_status` of the C API, each carrying the
/// library's message (which names the problem: the missing path, the bad field, ...).
///
/// `status` is the C status code and `statusName` its name (`"NS_ERR_MODEL_NOT_FOUND"`), so
/// errors can be matched either way:
///
///     catch NodeSpaceError.modelNotFound(let message) { ... }
///     catch let error as NodeSpaceError where error.status == NS_ERR_MODEL_NOT_FOUND { ... }
///
/// Task cancellation is reported as Swift's `CancellationError`, not as `.cancelled`.
public enum NodeSpaceError: Error, Equatable, Hashable, Sendable {
    case invalidArgument(String)
    case nullPointer(String)
    case invalidUTF8(String)
    case bufferTooSmall(String)
    case structSize(String)
    case modelNotFound(String)
    case modelInvalid(String)
    case tokenizer(String)
    case runtimeNotFound(String)
    case runtime(String)
    case cancelled(String)
    case contextOverflow(String)
    case unsupported(String)
    case template(String)
    case io(String)
    case `internal`(String)
    /// A status this binding does not know (the C API's statuses are append-only).
    case unknown(status: Int32, message: String)

    /// The error for a non-zero `ns_status` and its message.
    public init(status: Int32, message: String) {
        switch status {
        case NS_ERR_INVALID_ARGUMENT: self = .invalidArgument(message)
        case NS_ERR_NULL_POINTER: self = .nullPointer(message)
        case NS_ERR_INVALID_UTF8: self = .invalidUTF8(message)
        case NS_ERR_BUFFER_TOO_SMALL: self = .bufferTooSmall(message)
        case NS_ERR_STRUCT_SIZE: self = .structSize(message)
        case NS_ERR_MODEL_NOT_FOUND: self = .modelNotFound(message)
        case NS_ERR_MODEL_INVALID: self = .modelInvalid(message)
        case NS_ERR_TOKENIZER: self = .tokenizer(message)
        case NS_ERR_RUNTIME_NOT_FOUND: self = .runtimeNotFound(message)
        case NS_ERR_RUNTIME: self = .runtime(message)
        case NS_ERR_CANCELLED: self = .cancelled(message)
        case NS_ERR_CONTEXT_OVERFLOW: self = .contextOverflow(message)
        case NS_ERR_UNSUPPORTED: self = .unsupported(message)
        case NS_ERR_TEMPLATE: self = .template(message)
        case NS_ERR_IO: self = .io(message)
        case NS_ERR_INTERNAL: self = .internal(message)
        default: self = .unknown(status: status, message: message)
        }
    }

    /// The C API's status code (`NS_ERR_*`).
    public var status: Int32 {
        switch self {
        case .invalidArgument: NS_ERR_INVALID_ARGUMENT
        case .nullPointer: NS_ERR_NULL_POINTER
        case .invalidUTF8: NS_ERR_INVALID_UTF8
        case .bufferTooSmall: NS_ERR_BUFFER_TOO_SMALL
        case .structSize: NS_ERR_STRUCT_SIZE
        case .modelNotFound: NS_ERR_MODEL_NOT_FOUND
        case .modelInvalid: NS_ERR_MODEL_INVALID
        case .tokenizer: NS_ERR_TOKENIZER
        case .runtimeNotFound: NS_ERR_RUNTIME_NOT_FOUND
        case .runtime: NS_ERR_RUNTIME
        case .cancelled: NS_ERR_CANCELLED
        case .contextOverflow: NS_ERR_CONTEXT_OVERFLOW
        case .unsupported: NS_ERR_UNSUPPORTED
        case .template: NS_ERR_TEMPLATE
        case .io: NS_ERR_IO
        case .internal: NS_ERR_INTERNAL
        case .unknown(let status, _): status
        }
    }

    /// The library's message for this error.
    public var message: String {
        switch self {
        case .invalidArgument(let m), .nullPointer(let m), .invalidUTF8(let m), .bufferTooSmall(let m),
             .structSize(let m), .modelNotFound(let m), .modelInvalid(let m), .tokenizer(let m),
             .runtimeNotFound(let m), .runtime(let m), .cancelled(let m), .contextOverflow(let m),
             .unsupported(let m), .template(let m), .io(let m), .internal(let m), .unknown(_, let m):
            m
        }
    }

    /// The status's name as the library spells it, e.g. `"NS_ERR_MODEL_NOT_FOUND"`.
    public var statusName: String {
        String(cString: ns_status_string(status))
    }
}

extension NodeSpaceError: CustomStringConvertible {
    public var description: String { "\(statusName): \(message)" }
}

/// Throws the calling thread's last nodespace error when `status` is not NS_OK.
///
/// Every native call in this binding is made, and its status checked, synchronously on one
/// thread, so `ns_last_error_message()` (thread-local) is that call's full message. (The
/// `ns_error_detail` out-parameter exists for callers that cannot do this; its message is
/// capped at NS_ERROR_DETAIL_CAPACITY bytes.)
@inline(__always)
func check(_ status: Int32) throws(NodeSpaceError) {
    guard status != NS_OK else { return }
    throw NodeSpaceError(status: status, message: String(cString: ns_last_error_message()))
}

/// A Swift-side argument check (values the C structs cannot represent), reported with the
/// same status the library would use.
func invalidArgument(_ message: String) -> NodeSpaceError {
    .invalidArgument(message)
}

/// `value` as a UInt32 option field, or an invalidArgument error naming `field`.
func uint32(_ value: Int, _ field: String) throws(NodeSpaceError) -> UInt32 {
    guard let v = UInt32(exactly: value) else {
        throw invalidArgument("\(field) is \(value); it must be between 0 and \(UInt32.max)")
    }
    return v
}
