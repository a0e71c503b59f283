import { execLocally, execOverSsh, probeCommand } from './host-probe.js';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Agent, RequestOptions } from 'node:http';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { TIMEOUT_DEFAULTS } from '../spec/normalize-heal.js';
import type { DockerHost, Host, SshDefaults, SshHost, Timeouts } from '../spec/types.js';
import { DockerApiError, HostUnreachableError, StoppedError, stopped, toTransportError } from './errors.js';
import { buildSshAuth, identityCandidates, SshAuthSetupError } from './ssh/auth.js';
import { createStartGate, silentLog, SshConnection } from './ssh/connection.js';
import type { SshEndpoint, StartGate, TransportLog } from './ssh/connection.js';
import { DockerForward, ForwardAgent, QuietAgent } from './ssh/forward.js';
import { expandHome, readSshConfig } from './ssh/ssh-config.js';

export { createStartGate } from './ssh/connection.js';
export type { StartGate } from './ssh/connection.js';

/** Structured logging: constant messages, data in fields. Silent unless given. */
export type Logger = TransportLog;

/**
 * How API calls reach the engine: an SSH stream-local forward to its socket, `docker system
 * dial-stdio` over SSH (when sshd forbids forwarding), or a local `unix://` / `tcp://` engine.
 */
export type Transport = 'ssh' | 'ssh-dial-stdio' | 'unix' | 'tcp';

/** `up`: connected; `connecting`; `down`: the last attempt failed, retrying with backoff; `closed`. */
export type HostState = 'up' | 'connecting' | 'down' | 'closed';

/**
 * How long an Engine API call may take before its host counts as not answering: reads (list,
 * inspect, info), writes (create, start, remove; a stop gets its grace period on top) and pulls.
 * A call past its deadline is abandoned and fails with HostUnreachableError `timeout`.
 */
export type Deadlines = Timeouts;

export const DEFAULT_DEADLINES: Deadlines = TIMEOUT_DEFAULTS;

export type CallOptions = {
  /** Which deadline applies. Default `read`. */
  readonly kind?: 'read' | 'write' | 'pull';
  /** Added to the kind's deadline: a stop's grace period. */
  readonly extraMs?: number;
  /** The caller's own reason to stop waiting (heal is stopping, its lock was lost). */
  readonly signal?: AbortSignal;
};

/** The options of a mutation: the write deadline, and the caller's signal when there is one. */
export function writeCall(signal?: AbortSignal): CallOptions {
  return { kind: 'write', ...(signal ? { signal } : {}) };
}

/** A call sent and not yet answered: what `/status` shows as holding things up. */
export type PendingCall = { readonly operation: string; readonly since: number };

/** One engine, whichever way it is reached. Every later layer talks to hosts through this. */
export type HostClient = {
  readonly host: Host;
  /** Plain dockerode; calls fail with HostUnreachableError while an SSH host is down. */
  readonly docker: Dockerode;
  transport(): Transport;
  state(): HostState;
  /**
   * Round trip of `GET /_ping` in milliseconds, bounded by `timeoutMs` (default the connect
   * timeout); rejects with HostUnreachableError or DockerApiError.
   */
  ping(timeoutMs?: number): Promise<number>;
  /**
   * Runs one dockerode call, logged before and after, with its failure turned into a
   * HostUnreachableError (the host, not the call, is the problem) or a DockerApiError. Bounded by
   * its deadline: `run` gets the signal to pass on as dockerode's `abortSignal`, and the call
   * returns at the deadline even if the request ignores it.
   */
  call<T>(
    operation: string,
    run: (docker: Dockerode, signal: AbortSignal) => Promise<T>,
    options?: CallOptions,
  ): Promise<T>;
  /** Epoch ms of the engine's last answer (any response, an error status too); null before the first. */
  lastAnswer(): number | null;
  /** The calls sent and not yet answered, oldest first. */
  pending(): readonly PendingCall[];
  /** Ends the connection; later calls fail with HostUnreachableError `closed`. */
  close(): Promise<void>;
  /**
   * A stream to a unix socket on the host (a mesh proxy's runtime API): a stream-local channel on
   * the SSH connection, or the socket itself for a local engine. Absent for a tcp:// engine.
   */
  openSocket?: (path: string) => Promise<Duplex>;
  /**
   * Runs `probeCommand(dataRoot)` (host-probe.ts) on the host: an SSH exec channel, or this
   * machine's shell for a local engine. Absent for a tcp:// engine: its host is not read.
   */
  runProbe?: (dataRoot: string, timeoutMs: number) => Promise<string>;
};

export type ConnectOptions = {
  /** The spec's `x-heal.ssh` defaults. */
  readonly ssh: SshDefaults;
  /** Record the key of a host not yet in known_hosts (OpenSSH's accept-new). Off by default. */
  readonly acceptNewHostKeys?: boolean;
  /** For the TCP connect + SSH handshake + auth, for opening a channel, and for ping. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Per kind of Engine API call; DEFAULT_DEADLINES for what is not given. */
  readonly deadlines?: Partial<Deadlines>;
  /** SSH keepalive period; a peer missing `keepaliveCountMax` in a row is dead. Defaults 1000 and 3. */
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveCountMax?: number;
  /** Reconnect backoff after a lost connection, doubling from `initial` to `max`. Default 200..5000 ms. */
  readonly backoffMs?: { readonly initial: number; readonly max: number };
  /** Shared by all hosts of a fleet to bound simultaneous SSH connection starts. Default: one of 8 per call. */
  readonly startGate?: StartGate;
  readonly log?: Logger;
  /** Where SSH_AUTH_SOCK and HEAL_SSH_PASSPHRASE are read. Default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Home folder for `~`, ~/.ssh/config, ~/.ssh/known_hosts and default identities. Default os.homedir(). */
  readonly home?: string;
  /** Default ~/.ssh/config. */
  readonly sshConfigFile?: string;
};

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * Connects to one host and proves the engine answers (`/_ping`). Rejects with a HostUnreachableError
 * when it cannot: nothing is retried here, but once connected, an SSH client reconnects by itself.
 */
export async function connectHost(host: Host, options: ConnectOptions): Promise<HostClient> {
  const client = host.kind === 'ssh' ? await connectSsh(host, options) : connectDocker(host, options);
  try {
    await client.ping();
  } catch (error) {
    await client.close();
    throw error;
  }
  return client;
}

/** Connects to every host at once through one start gate; a host that fails does not hold up the others. */
export async function connectHosts(
  hosts: readonly Host[],
  options: ConnectOptions,
): Promise<{ clients: Map<string, HostClient>; failures: Map<string, Error> }> {
  const shared = { ...options, startGate: options.startGate ?? createStartGate() };
  const clients = new Map<string, HostClient>();
  const failures = new Map<string, Error>();
  await Promise.all(
    hosts.map((host) =>
      connectHost(host, shared).then(
        (client) => void clients.set(host.name, client),
        (error: unknown) =>
          void failures.set(host.name, error instanceof Error ? error : new Error(String(error))),
      ),
    ),
  );
  return { clients, failures };
}

/** The SSH endpoint for a host: spec first, then ~/.ssh/config, then OpenSSH's defaults. */
export function resolveSshEndpoint(host: SshHost, options: ConnectOptions): SshEndpoint {
  const home = options.home ?? homedir();
  const env = options.env ?? process.env;
  const defaults = options.ssh;
  const config = readSshConfig(host.address, {
    home,
    ...(options.sshConfigFile === undefined ? {} : { file: options.sshConfigFile }),
  });
  const username = host.user ?? defaults.user ?? config.user ?? userInfo().username;
  const identities = identityCandidates({
    hostIdentityFile: host.identityFile,
    defaultIdentityFile: defaults.identityFile,
    configIdentityFiles: config.identityFiles,
    home,
  });
  let auth;
  try {
    auth = buildSshAuth({ username, identities, env });
  } catch (error) {
    if (!(error instanceof SshAuthSetupError)) throw error;
    throw new HostUnreachableError(host.name, 'auth-failed', error.message, { cause: error });
  }
  return {
    host: host.name,
    address: config.hostName ?? host.address,
    port: host.port ?? defaults.port ?? config.port ?? 22,
    auth,
    knownHostsFile: expandHome(defaults.knownHosts ?? join(home, '.ssh', 'known_hosts'), home),
    acceptNewHostKeys: options.acceptNewHostKeys ?? false,
  };
}

async function connectSsh(host: SshHost, options: ConnectOptions): Promise<HostClient> {
  const log = options.log ?? silentLog;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const connection = new SshConnection(resolveSshEndpoint(host, options), {
    connectTimeoutMs,
    keepaliveIntervalMs: options.keepaliveIntervalMs ?? 1000,
    keepaliveCountMax: options.keepaliveCountMax ?? 3,
    backoffMs: options.backoffMs ?? { initial: 200, max: 5000 },
    gate: options.startGate ?? createStartGate(),
    log,
  });
  try {
    await connection.connect();
  } catch (error) {
    await connection.close();
    throw error;
  }
  const forward = new DockerForward(connection, host.socket, log);
  const agent = new ForwardAgent(`ssh ${host.name}`, forward);
  // The socket path is only a name for the agent's pool: every connection comes from the forward.
  const socketPath = `/heal-ssh/${host.name}`;
  return makeClient({
    host,
    docker: newDockerode({ socketPath, agent }),
    target: { socketPath, agent },
    agent,
    log,
    pingTimeoutMs: connectTimeoutMs,
    deadlines: { ...DEFAULT_DEADLINES, ...options.deadlines },
    transport: () => (forward.mode === 'dial-stdio' ? 'ssh-dial-stdio' : 'ssh'),
    state: () => {
      const state = connection.state;
      return state === 'idle' ? 'connecting' : state;
    },
    downError: () => (connection.state === 'up' ? undefined : connection.lastError),
    close: () => connection.close(),
    openSocket: (path) => connection.streamLocal(path),
    runProbe: (dataRoot, timeoutMs) => execOverSsh(connection.exec(probeCommand(dataRoot)), timeoutMs),
  });
}

function connectDocker(host: DockerHost, options: ConnectOptions): HostClient {
  const log = options.log ?? silentLog;
  const agent = new QuietAgent(host.name, { keepAlive: true });
  let target: RequestOptions;
  let transport: Transport;
  let docker: Dockerode;
  if (host.url.startsWith('unix://')) {
    const socketPath = host.url.slice('unix://'.length) || '/var/run/docker.sock';
    target = { socketPath, agent };
    transport = 'unix';
    docker = newDockerode({ socketPath, agent });
  } else if (host.url.startsWith('tcp://')) {
    const url = new URL(host.url);
    const port = url.port === '' ? 2375 : Number(url.port);
    target = { host: url.hostname, port, agent };
    transport = 'tcp';
    docker = newDockerode({ host: url.hostname, port, protocol: 'http', agent });
  } else {
    throw new HostUnreachableError(
      host.name,
      'unreachable',
      `${host.url} is neither unix:///path nor tcp://host:port`,
    );
  }
  let closed = false;
  return makeClient({
    host,
    docker,
    target,
    agent,
    log,
    pingTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    deadlines: { ...DEFAULT_DEADLINES, ...options.deadlines },
    transport: () => transport,
    state: () => (closed ? 'closed' : 'up'),
    downError: () =>
      closed ? new HostUnreachableError(host.name, 'closed', 'the client was closed') : undefined,
    close: async () => {
      closed = true;
    },
    ...(transport === 'unix'
      ? {
          openSocket: openLocalSocket,
          runProbe: (dataRoot: string, timeoutMs: number) => execLocally(probeCommand(dataRoot), timeoutMs),
        }
      : {}),
  });
}

function openLocalSocket(path: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

type ClientParts = {
  host: Host;
  docker: Dockerode;
  /** Where ping's raw request goes. */
  target: RequestOptions;
  agent: Agent;
  log: Logger;
  pingTimeoutMs: number;
  deadlines: Deadlines;
  transport: () => Transport;
  state: () => HostState;
  /** Why the host is down, when it is. */
  downError: () => HostUnreachableError | undefined;
  close: () => Promise<void>;
  openSocket?: (path: string) => Promise<Duplex>;
  runProbe?: (dataRoot: string, timeoutMs: number) => Promise<string>;
};

function makeClient(parts: ClientParts): HostClient {
  const { host, docker, log } = parts;
  let answeredAt: number | null = null;
  const pending = new Set<PendingCall>();
  const failure = (operation: string, error: unknown): Error => {
    if (error instanceof HostUnreachableError || error instanceof DockerApiError) return error;
    // A call cut short because the connection dropped is the host's problem, not the call's.
    if (statusOf(error) === null) {
      const down = parts.downError();
      if (down !== undefined) return down;
    }
    return toTransportError(host.name, operation, error);
  };
  const timedOut = (operation: string, ms: number): HostUnreachableError =>
    new HostUnreachableError(
      host.name,
      'timeout',
      `the engine did not answer ${operation} within ${seconds(ms)}`,
    );
  return {
    host,
    docker,
    transport: parts.transport,
    state: parts.state,
    lastAnswer: () => answeredAt,
    pending: () => [...pending].sort((a, b) => a.since - b.since),
    ping: async (timeoutMs = parts.pingTimeoutMs) => {
      const down = parts.downError();
      if (parts.state() === 'closed' && down !== undefined) throw down;
      const started = performance.now();
      try {
        await pingOnce(host.name, parts.target, timeoutMs);
      } catch (error) {
        throw failure('ping', error);
      }
      answeredAt = Date.now();
      return performance.now() - started;
    },
    call: async <T>(
      operation: string,
      run: (d: Dockerode, signal: AbortSignal) => Promise<T>,
      options: CallOptions = {},
    ): Promise<T> => {
      const ms = parts.deadlines[`${options.kind ?? 'read'}Ms`] + (options.extraMs ?? 0);
      const abandon = new AbortController();
      const timer = setTimeout(() => abandon.abort(timedOut(operation, ms)), ms);
      const stop = (): void => abandon.abort(options.signal?.reason);
      options.signal?.addEventListener('abort', stop, { once: true });
      const entry: PendingCall = { operation, since: Date.now() };
      pending.add(entry);
      const started = performance.now();
      log.debug({ host: host.name, operation }, 'docker call');
      try {
        if (options.signal?.aborted) throw stopped(options.signal);
        const result = await untilAborted(run(docker, abandon.signal), abandon.signal);
        answeredAt = Date.now();
        log.debug(
          { host: host.name, operation, ms: Math.round(performance.now() - started) },
          'docker call done',
        );
        return result;
      } catch (caught) {
        // Abandoned by the caller, or at the deadline: that says why, whatever the request threw.
        const error = options.signal?.aborted
          ? stopped(options.signal)
          : abandon.signal.aborted
            ? (abandon.signal.reason as unknown)
            : caught;
        if (statusOf(error) !== null) answeredAt = Date.now();
        const wrapped = error instanceof StoppedError ? error : failure(operation, error);
        log.debug({ host: host.name, operation, error: wrapped.message }, 'docker call failed');
        throw wrapped;
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', stop);
        pending.delete(entry);
      }
    },
    close: async () => {
      parts.agent.destroy();
      await parts.close();
    },
    ...(parts.openSocket ? { openSocket: parts.openSocket } : {}),
    ...(parts.runProbe ? { runProbe: parts.runProbe } : {}),
  };
}

/** Settles with `work`, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error as Error);
      },
    );
  });
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** `GET /_ping` through the client's own agent, bounded in time. */
function pingOnce(hostName: string, target: RequestOptions, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      { ...target, method: 'GET', path: '/_ping', signal: AbortSignal.timeout(timeoutMs) },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) resolve();
          else reject(new DockerApiError(hostName, 'ping', res.statusCode ?? null, `HTTP ${res.statusCode}`));
        });
        res.on('error', reject);
      },
    );
    req.on('error', (error: Error) => {
      if (error.name === 'AbortError' || error.name === 'TimeoutError') {
        reject(
          new HostUnreachableError(
            hostName,
            'timeout',
            `the engine did not answer /_ping within ${timeoutMs} ms`,
          ),
        );
        return;
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED' || code === 'ENOENT') {
        reject(
          new HostUnreachableError(hostName, 'refused', `no engine listens at ${describeTarget(target)}`, {
            cause: error,
          }),
        );
        return;
      }
      if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'ETIMEDOUT') {
        reject(
          new HostUnreachableError(hostName, 'unreachable', `${describeTarget(target)}: ${code}`, {
            cause: error,
          }),
        );
        return;
      }
      reject(error);
    });
    req.end();
  });
}

function describeTarget(target: RequestOptions): string {
  return target.socketPath ?? `${target.host}:${target.port}`;
}

function statusOf(error: unknown): number | null {
  if (typeof error !== 'object' || error === null || !('statusCode' in error)) return null;
  return typeof error.statusCode === 'number' ? error.statusCode : null;
}

/**
 * A dockerode that ignores DOCKER_HOST and friends: docker-modem merges them into its options
 * unless each key is given, even as undefined. Nothing global leaks into a host's client.
 */
function newDockerode(
  where:
    { socketPath: string; agent: Agent } | { host: string; port: number; protocol: 'http'; agent: Agent },
): Dockerode {
  const options: Dockerode.DockerOptions & { agent: Agent } = {
    socketPath: undefined,
    host: undefined,
    port: undefined,
    protocol: undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
    timeout: undefined,
    version: undefined,
    ...where,
  };
  return new Dockerode(options);
}
