'use strict';

/**
 * Every error this package raises on purpose is a NodespaceError.
 *
 * - `code` is the library's status name (`ns_status_string`, e.g. "NS_ERR_MODEL_NOT_FOUND")
 *   for errors that come from libnodespace, or an `ERR_NODESPACE_*` name for errors of the
 *   binding itself (library not found, handle closed, ...).
 * - `status` is the numeric ns_status, or `undefined` for binding errors.
 * - `message` is the library's own message (it names the problem and the path).
 */
class NodespaceError extends Error {
  constructor(code, message, options = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NodespaceError';
    this.code = code;
    this.status = options.status;
  }
}

/**
 * A cancelled generation: the AbortSignal fired, the stream was left early, or the
 * generator was closed. `name` is "AbortError" (like fetch's), `code` is
 * "NS_ERR_CANCELLED" (the library's status), and it is still a NodespaceError.
 * `cause` is the signal's reason when a signal fired. `text` and `stats` hold what was
 * generated before the cancellation.
 */
class AbortError extends NodespaceError {
  constructor(message, options = {}) {
    super('NS_ERR_CANCELLED', message, { status: 11, cause: options.cause });
    this.name = 'AbortError';
    this.text = options.text ?? '';
    this.stats = options.stats ?? null;
  }
}

/** Error codes of the binding itself (not library statuses). */
const BindingCodes = Object.freeze({
  LIBRARY_NOT_FOUND: 'ERR_NODESPACE_LIBRARY_NOT_FOUND',
  LIBRARY_MISMATCH: 'ERR_NODESPACE_LIBRARY_MISMATCH',
  CLOSED: 'ERR_NODESPACE_CLOSED',
  NOT_JSON: 'ERR_NODESPACE_NOT_JSON',
});

module.exports = { NodespaceError, AbortError, BindingCodes };
