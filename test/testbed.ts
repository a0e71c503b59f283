/**
 * The test bed of real Docker hosts (scripts/testbed, see scripts/README.md) for tests: run its
 * verbs, read its addresses, and drive a host's engine straight over its socket.
 */
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Absolute path of scripts/testbed. */
export const TESTBED_SCRIPT = fileURLToPath(new URL('../scripts/testbed', import.meta.url));

export interface TestbedHost {
  /** h1, h2, ... (also the host's hostname and its engine's `docker info` Name). */
  name: string;
  /** Its address on the test bed's bridge, 10.231.0.(10+i). */
  address: string;
  /** `root@ADDRESS`, what an `x-heal.hosts.*.ssh` entry would say. */
  ssh: string;
  /** The engine's socket, reachable from the root namespace (this process). */
  socket: string;
}

export interface TestbedEnv {
  hosts: TestbedHost[];
  /** The client's private key, accepted by every host's sshd for root (unless `revoke`d). */
  identityFile: string;
  /** A known_hosts file with every host's key (`10.231.0.11 ssh-ed25519 AAAA...`). */
  knownHosts: string;
  /** The registry every host pulls from, `10.231.0.1:5000`. */
  registry: string;
  /**
   * Test images in that registry: web v1/v2 (port 8080, `/`, `/health`, `/host`, and
   * `/cgi-bin/slow?N` answering after N seconds), crash (exits 1), sick, flaky (serves and is
   * healthy, then exits 1 three seconds after it started), proxy (HAProxy reading
   * /usr/local/etc/haproxy/haproxy.cfg).
   */
  images: { web1: string; web2: string; crash: string; sick: string; flaky: string; proxy: string };
}

interface RunOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

function run(file: string, args: string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 0, env: options.env ?? process.env },
      (error, stdout, stderr) => {
        if (error) {
          const tail = String(stderr).trim().split('\n').slice(-20).join('\n');
          reject(new Error(`${file} ${args.join(' ')} failed (${error.code ?? error.signal}):\n${tail}`));
        } else {
          resolve(String(stdout));
        }
      },
    );
  });
}

/** Runs `scripts/testbed VERB ARGS...` and returns its stdout (progress goes to stderr). */
export function testbed(verb: string, ...args: string[]): Promise<string> {
  return run(TESTBED_SCRIPT, [verb, ...args], { timeoutMs: 600_000 });
}

/** The test bed's hosts, keys, registry and images (`scripts/testbed env`). */
export async function testbedEnv(): Promise<TestbedEnv> {
  return JSON.parse(await testbed('env')) as TestbedEnv;
}

/** Stands up (or repairs: revives, thaws, mends) h1..hN and returns the env. Idempotent and fast when up. */
export async function ensureTestbed(n = 3): Promise<TestbedEnv> {
  await testbed('up', String(n));
  return testbedEnv();
}

/**
 * A spec's first lines for the bed: `name`, then `x-heal` with the bed's key and known_hosts, the
 * `heal` lines given (more `x-heal` keys, indented by two), and every host of the bed by address.
 */
export function bedSpecHead(env: TestbedEnv, stack: string, heal: readonly string[] = []): string[] {
  return [
    `name: ${stack}`,
    'x-heal:',
    `  ssh: { identity_file: ${env.identityFile}, known_hosts: ${env.knownHosts} }`,
    ...heal,
    '  hosts:',
    ...env.hosts.map((host) => `    ${host.name}: { ssh: ${host.ssh} }`),
  ];
}

/** The host named `name` (h1, ...) in `env`; throws when the bed has no such host. */
export function hostOf(env: TestbedEnv, name: string): TestbedHost {
  const host = env.hosts.find((h) => h.name === name);
  if (!host)
    throw new Error(`test bed has no host ${name} (hosts: ${env.hosts.map((h) => h.name).join(', ')})`);
  return host;
}

/**
 * The env that dockerOn and sshOn last read. `scripts/testbed env` costs a bash start and a dozen
 * forks (0.5-2 s on the loaded 2-core machine), and tests call dockerOn in polling loops; a host's
 * address, socket and the keys never change while it exists (they follow from its number), so
 * only a host the cached env does not list makes them read it again (`up 4` added one).
 */
let lastEnv: Promise<TestbedEnv> | undefined;

async function envWith(host: string): Promise<TestbedEnv> {
  const cached = await lastEnv?.catch(() => undefined);
  if (cached?.hosts.some((h) => h.name === host)) return cached;
  lastEnv = testbedEnv();
  return lastEnv;
}

/** Runs the docker CLI against host `host`'s engine over its socket (`docker -H unix://SOCKET ARGS...`). */
export async function dockerOn(host: string, ...args: string[]): Promise<string> {
  const { socket } = hostOf(await envWith(host), host);
  return run('docker', ['-H', `unix://${socket}`, ...args], { timeoutMs: 120_000 });
}

/** OpenSSH client options that reach the test bed's hosts with strict host key checking. */
export function sshOptions(env: TestbedEnv, connectTimeoutSeconds = 5): string[] {
  return [
    '-i',
    env.identityFile,
    '-o',
    `UserKnownHostsFile=${env.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${connectTimeoutSeconds}`,
    '-F',
    '/dev/null',
  ];
}

/** Runs `command` on host `host` over real SSH (`ssh root@ADDRESS command`). */
export async function sshOn(host: string, command: string, timeoutMs = 30_000): Promise<string> {
  const env = await envWith(host);
  return run('ssh', [...sshOptions(env), hostOf(env, host).ssh, command], { timeoutMs });
}

/** An SSH session held open by `openSshSession`. */
export interface SshSession {
  /** Resolves once the remote command runs (the session is established). */
  opened: Promise<void>;
  /** The ssh client's exit code, or 'open' if the session still runs after `ms`. */
  closedWithin(ms: number): Promise<number | 'open'>;
  /** Ends the session from the client side. */
  close(): void;
}

/**
 * Opens an SSH session into `host` that stays open until the server drops it, as `rekey`,
 * `restore-key` and `revoke` do: a remote `cat` on the session's stdin, which this side never writes
 * nor closes (so the remote end leaves no process behind either way). `options` (e.g. `-o StrictHostKeyChecking=no`) win
 * over `sshOptions`.
 */
export function openSshSession(env: TestbedEnv, host: string, options: string[] = []): SshSession {
  // ssh keeps the first value it gets for an option: `options` go first to override sshOptions.
  const args = [...options, ...sshOptions(env), hostOf(env, host).ssh, 'echo open; exec cat'];
  const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  const opened = new Promise<void>((resolve, reject) => {
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    child.stdout.on('data', (data: Buffer) => {
      if (data.toString().includes('open')) resolve();
    });
    void exited.then((code) => reject(new Error(`ssh ${host} ended (${code}) before it opened: ${stderr}`)));
  });
  return {
    opened,
    closedWithin: (ms) =>
      Promise.race([exited, new Promise<'open'>((r) => setTimeout(() => r('open'), ms).unref())]),
    close: () => child.kill(),
  };
}
