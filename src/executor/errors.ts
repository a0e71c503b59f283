/**
 * Why a host could not be reached, as one word a caller can switch on:
 * - `timeout`: nothing answered in time (host frozen, cut off the network, or overloaded);
 * - `refused`: the address answered but nothing listens there (sshd or dockerd down);
 * - `unreachable`: no route to the address, or the name does not resolve;
 * - `host-key-unknown` / `host-key-changed` / `host-key-revoked`: known_hosts does not vouch for the key;
 * - `auth-failed`: sshd turned down every identity offered;
 * - `forward-denied`: SSH works, but the server lets heal reach neither the Docker socket nor `docker`;
 * - `closed`: the connection dropped, or the client was closed.
 */
export type UnreachableKind =
  | 'timeout'
  | 'refused'
  | 'unreachable'
  | 'host-key-unknown'
  | 'host-key-changed'
  | 'host-key-revoked'
  | 'auth-failed'
  | 'forward-denied'
  | 'closed';

/** A host heal cannot talk to right now; `sentence` says why in words a person can act on. */
export class HostUnreachableError extends Error {
  readonly host: string;
  readonly kind: UnreachableKind;
  readonly sentence: string;

  constructor(host: string, kind: UnreachableKind, sentence: string, options?: { cause?: unknown }) {
    super(`host ${host} unreachable (${kind}): ${sentence}`, options);
    this.name = 'HostUnreachableError';
    this.host = host;
    this.kind = kind;
    this.sentence = sentence;
  }
}

/** The engine answered, and said no (or a call failed in a way that is not the host's reachability). */
export class DockerApiError extends Error {
  readonly host: string;
  /** What heal asked for, e.g. `listContainers` or `createContainer web.2`. */
  readonly operation: string;
  /** The HTTP status, or null when the call failed before a response. */
  readonly status: number | null;

  constructor(host: string, operation: string, status: number | null, cause: unknown) {
    const detail = describeCause(cause);
    const where = status === null ? '' : ` (HTTP ${status})`;
    super(`host ${host}: ${operation} failed${where}: ${detail}`, { cause });
    this.name = 'DockerApiError';
    this.host = host;
    this.operation = operation;
    this.status = status;
  }
}

/** Why heal gave up waiting on an engine of its own accord: it is stopping, or its lock was lost. */
export class StoppedError extends Error {
  override readonly name = 'StoppedError';
}

/** The StoppedError an aborted signal stands for: its reason when it is one, else a plain one. */
export function stopped(signal: AbortSignal): StoppedError {
  const reason: unknown = signal.reason;
  if (reason instanceof StoppedError) return reason;
  return new StoppedError(reason instanceof Error ? reason.message : 'heal is stopping');
}

/**
 * Turns whatever a dockerode call threw into one of the two transport errors: a HostUnreachableError
 * passes through; a socket-level failure (connection reset, refused, timed out) is the host's, not
 * the call's; anything else becomes a DockerApiError carrying the HTTP status when there is one.
 */
export function toTransportError(host: string, operation: string, error: unknown): Error {
  if (error instanceof HostUnreachableError || error instanceof DockerApiError) return error;
  const status = statusOf(error);
  if (status === null) {
    const unreachable = socketFailure(host, operation, error);
    if (unreachable !== null) return unreachable;
  }
  return new DockerApiError(host, operation, status, error);
}

const SOCKET_FAILURES: Readonly<Record<string, UnreachableKind>> = {
  ECONNRESET: 'closed',
  EPIPE: 'closed',
  ECONNREFUSED: 'refused',
  ENOENT: 'refused',
  ETIMEDOUT: 'timeout',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  ENOTFOUND: 'unreachable',
};

function socketFailure(host: string, operation: string, error: unknown): HostUnreachableError | null {
  if (typeof error !== 'object' || error === null || !('code' in error) || typeof error.code !== 'string')
    return null;
  const kind = SOCKET_FAILURES[error.code];
  if (kind === undefined) return null;
  const message = error instanceof Error ? error.message : error.code;
  return new HostUnreachableError(
    host,
    kind,
    `the connection to the engine failed during ${operation} (${message})`,
    {
      cause: error,
    },
  );
}

function statusOf(error: unknown): number | null {
  if (typeof error !== 'object' || error === null || !('statusCode' in error)) return null;
  return typeof error.statusCode === 'number' ? error.statusCode : null;
}

function describeCause(cause: unknown): string {
  if (typeof cause === 'object' && cause !== null && 'json' in cause) {
    const json: unknown = cause.json;
    if (typeof json === 'object' && json !== null && 'message' in json && typeof json.message === 'string') {
      return json.message;
    }
  }
  if (cause instanceof Error) return cause.message;
  return String(cause);
}
