/**
 * The transport against real sshd and dockerd: the test bed's hosts, plus one sshd of our own on
 * 127.0.0.1 that forbids stream-local forwarding (for the dial-stdio fallback). Every failure verb
 * used here is undone in the same test.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { connect as connectTcp, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../src/executor/errors.js';
import { connectHost, connectHosts } from '../../src/executor/host-client.js';
import type { ConnectOptions, HostClient, Logger } from '../../src/executor/host-client.js';
import { checkHostKey, parseKnownHosts } from '../../src/executor/ssh/known-hosts.js';
import type { DockerHost, SshHost } from '../../src/spec/types.js';
import { dockerOn, ensureTestbed, hostOf, testbed } from '../testbed.js';
import type { TestbedEnv } from '../testbed.js';

type LogLine = { level: 'debug' | 'warn'; message: string; fields: Record<string, unknown> };

function recorder(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    debug: (fields, message) => void lines.push({ level: 'debug', message, fields }),
    warn: (fields, message) => void lines.push({ level: 'warn', message, fields }),
  };
}

let env: TestbedEnv;
let work: string;
const clients: HostClient[] = [];

function sshHost(name: string, overrides: Partial<SshHost> = {}): SshHost {
  const { address } = hostOf(env, name);
  return {
    name,
    kind: 'ssh',
    user: 'root',
    address,
    port: null,
    identityFile: null,
    socket: '/var/run/docker.sock',
    labels: {},
    role: 'manager',
    ...overrides,
  };
}

function options(overrides: Partial<ConnectOptions> = {}): ConnectOptions {
  return {
    ssh: { user: null, port: null, identityFile: env.identityFile, knownHosts: env.knownHosts },
    env: {},
    home: work,
    sshConfigFile: '/dev/null',
    ...overrides,
  };
}

async function connect(
  host: SshHost | DockerHost,
  overrides: Partial<ConnectOptions> = {},
): Promise<HostClient> {
  const client = await connectHost(host, options(overrides));
  clients.push(client);
  return client;
}

/** What connectHost rejected with; fails the test when it connected. */
async function refusal(promise: Promise<HostClient>): Promise<HostUnreachableError> {
  const outcome = await promise.then(
    (client) => {
      clients.push(client);
      return new Error('connected, but should have been refused');
    },
    (error: unknown) => error,
  );
  if (!(outcome instanceof HostUnreachableError)) throw outcome;
  return outcome;
}

async function idsOn(host: string): Promise<string[]> {
  return (await dockerOn(host, 'ps', '-aq', '--no-trunc')).split('\n').filter(Boolean).sort();
}

/** Polls `check` every 200 ms until it holds, for at most `ms`. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-transport-'));
  // A container on h1, so listing has something to get right.
  await dockerOn('h1', 'rm', '-f', 'heal-transport-probe').catch(() => '');
  await dockerOn('h1', 'run', '-d', '--name', 'heal-transport-probe', env.images.web1);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await dockerOn('h1', 'rm', '-f', 'heal-transport-probe').catch(() => '');
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('SSH transport to the test bed', () => {
  it('pings and lists containers over one persistent SSH connection', async () => {
    const client = await connect(sshHost('h1'));
    expect(client.transport()).toBe('ssh');
    expect(client.state()).toBe('up');
    const ms = await client.ping();
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(5000);
    const listed = await client.docker.listContainers({ all: true });
    expect(listed.map((c) => c.Id).sort()).toEqual(await idsOn('h1'));
    expect(listed.find((c) => c.Names.includes('/heal-transport-probe'))?.Image).toBe(env.images.web1);
  });

  it('answers 8 concurrent listContainers calls correctly', async () => {
    const client = await connect(sshHost('h1'));
    const expected = await idsOn('h1');
    const results = await Promise.all(
      Array.from({ length: 8 }, () => client.call('listContainers', (d) => d.listContainers({ all: true }))),
    );
    for (const listed of results) expect(listed.map((c) => c.Id).sort()).toEqual(expected);
  });

  it('turns an engine error into a DockerApiError with host, operation and status', async () => {
    const client = await connect(sshHost('h1'));
    await expect(
      client.call('inspect nothing', (d) => d.getContainer('no-such-container').inspect()),
    ).rejects.toMatchObject({
      name: 'DockerApiError',
      host: 'h1',
      operation: 'inspect nothing',
      status: 404,
    });
  });

  it('refuses a host whose key differs from known_hosts, before authenticating', async () => {
    const otherKey = join(work, 'other_host_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    const knownHosts = join(work, 'known_hosts_wrong');
    const [type, base64] = readFileSync(`${otherKey}.pub`, 'utf8').split(' ');
    writeFileSync(knownHosts, `${hostOf(env, 'h1').address} ${type} ${base64}\n`);
    const log = recorder();
    const error = await refusal(
      connectHost(
        sshHost('h1'),
        options({ ssh: { user: null, port: null, identityFile: env.identityFile, knownHosts }, log }),
      ),
    );
    expect(error.kind).toBe('host-key-changed');
    expect(error.host).toBe('h1');
    expect(error.sentence).toContain(
      `HOST KEY CHANGED: ${hostOf(env, 'h1').address} presented the ssh-ed25519 key SHA256:`,
    );
    expect(error.sentence).toContain(`${knownHosts}:1`);
    expect(log.lines.map((l) => l.message)).not.toContain('ssh connected');
    expect(readFileSync(knownHosts, 'utf8')).toBe(`${hostOf(env, 'h1').address} ${type} ${base64}\n`);
  });

  it('refuses an unknown host with the command that trusts it, and records it under acceptNewHostKeys', async () => {
    const knownHosts = join(work, 'known_hosts_new');
    const ssh = { user: null, port: null, identityFile: env.identityFile, knownHosts };
    const address = hostOf(env, 'h2').address;
    const error = await refusal(connectHost(sshHost('h2'), options({ ssh })));
    expect(error.kind).toBe('host-key-unknown');
    expect(error.sentence).toContain(
      `To trust it, check that fingerprint and run: ssh-keyscan -p 22 ${address} >> ${knownHosts}`,
    );

    const log = recorder();
    const client = await connect(sshHost('h2'), { ssh, acceptNewHostKeys: true, log });
    expect(await client.ping()).toBeGreaterThan(0);
    expect(log.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      'new host key recorded',
    ]);
    const recorded = parseKnownHosts(readFileSync(knownHosts, 'utf8'));
    expect(recorded).toHaveLength(1);
    // The recorded key is the one the test bed's own known_hosts vouches for.
    const trusted = parseKnownHosts(readFileSync(env.knownHosts, 'utf8'));
    expect(checkHostKey(trusted, address, 22, recorded[0]!.key).status).toBe('trusted');
    // And a second connection trusts it without accept-new.
    const again = await connect(sshHost('h2'), { ssh });
    expect(again.state()).toBe('up');
  });

  it('classifies an identity sshd does not accept as auth-failed', async () => {
    const stranger = join(work, 'stranger');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const ssh = { user: null, port: null, identityFile: null, knownHosts: env.knownHosts };
    const error = await refusal(connectHost(sshHost('h1', { identityFile: stranger }), options({ ssh })));
    expect(error.kind).toBe('auth-failed');
    expect(error.sentence).toBe(`root@${hostOf(env, 'h1').address}:22 refused user root with ${stranger}`);
  });

  it('authenticates with an encrypted key and HEAL_SSH_PASSPHRASE', async () => {
    const locked = join(work, 'locked_key');
    writeFileSync(locked, readFileSync(env.identityFile), { mode: 0o600 });
    execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'open sesame', '-f', locked]);
    const ssh = { user: null, port: null, identityFile: locked, knownHosts: env.knownHosts };
    const error = await refusal(connectHost(sshHost('h1'), options({ ssh })));
    expect(error).toMatchObject({ kind: 'auth-failed' });
    expect(error.sentence).toContain(`identity file ${locked} is encrypted: set HEAL_SSH_PASSPHRASE`);
    const client = await connect(sshHost('h1'), { ssh, env: { HEAL_SSH_PASSPHRASE: 'open sesame' } });
    expect(await client.ping()).toBeGreaterThan(0);
  });

  it('authenticates through ssh-agent (SSH_AUTH_SOCK) with no identity file', async () => {
    const socket = join(work, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      expect(await eventually(async () => existsSync(socket), 5000)).toBe(true);
      execFileSync('ssh-add', ['-q', env.identityFile], { env: { SSH_AUTH_SOCK: socket }, stdio: 'ignore' });
      const ssh = { user: null, port: null, identityFile: null, knownHosts: env.knownHosts };
      const client = await connect(sshHost('h1'), { ssh, env: { SSH_AUTH_SOCK: socket } });
      expect(await client.ping()).toBeGreaterThan(0);
    } finally {
      if (agent.pid !== undefined) process.kill(agent.pid, 'SIGTERM');
    }
  });

  it('classifies a port nothing listens on as refused', async () => {
    const port = await freePort();
    const error = await refusal(connectHost(sshHost('h1', { address: '127.0.0.1', port }), options()));
    expect(error.kind).toBe('refused');
    expect(error.sentence).toBe(`root@127.0.0.1:${port} refused the connection: is sshd running?`);
  });

  it('says so when the engine socket is not there', async () => {
    const error = await refusal(
      connectHost(sshHost('h1', { socket: '/run/no-such-docker.sock' }), options()),
    );
    expect(error.kind).toBe('refused');
    expect(error.sentence).toContain('nothing answers at /run/no-such-docker.sock on the host');
  });

  it('reports a frozen host as a timeout within the connect timeout while the others answer', async () => {
    const before = await connect(sshHost('h3'), { connectTimeoutMs: 2000 });
    const h1 = await connect(sshHost('h1'));
    await testbed('freeze', 'h3');
    try {
      const started = Date.now();
      const [fresh, ping, other] = await Promise.allSettled([
        connectHost(sshHost('h3'), options({ connectTimeoutMs: 2000 })),
        before.ping(),
        h1.ping(),
      ]);
      const elapsed = Date.now() - started;
      expect(fresh).toMatchObject({
        status: 'rejected',
        reason: { name: 'HostUnreachableError', kind: 'timeout', host: 'h3' },
      });
      expect(ping).toMatchObject({ status: 'rejected', reason: { kind: 'timeout', host: 'h3' } });
      expect(other.status).toBe('fulfilled');
      expect(elapsed).toBeLessThan(2000 + 1500);
      // Keepalives (1 s, 3 misses) declare the connection dead on their own.
      expect(await eventually(async () => before.state() === 'down', 8000)).toBe(true);
      await expect(before.call('listContainers', (d) => d.listContainers())).rejects.toMatchObject({
        name: 'HostUnreachableError',
        host: 'h3',
      });
    } finally {
      await testbed('thaw', 'h3');
    }
    expect(await eventually(async () => (await before.ping()) > 0, 20_000)).toBe(true);
    expect(before.state()).toBe('up');
  });

  it('reports a host cut off the network as a timeout within the connect timeout', async () => {
    const h1 = await connect(sshHost('h1'));
    await testbed('cut', 'h3');
    try {
      const started = Date.now();
      const [cut, other] = await Promise.allSettled([
        connectHost(sshHost('h3'), options({ connectTimeoutMs: 2000 })),
        h1.docker.listContainers(),
      ]);
      expect(Date.now() - started).toBeLessThan(2000 + 1500);
      expect(cut).toMatchObject({ status: 'rejected', reason: { kind: 'timeout', host: 'h3' } });
      expect(other.status).toBe('fulfilled');
    } finally {
      await testbed('mend', 'h3');
    }
  });

  it('reconnects by itself after the host is killed and revived', async () => {
    const log = recorder();
    const client = await connect(sshHost('h2'), { log });
    await testbed('kill', 'h2');
    try {
      expect(await eventually(async () => client.state() === 'down', 10_000)).toBe(true);
      await expect(client.ping()).rejects.toBeInstanceOf(HostUnreachableError);
    } finally {
      await testbed('revive', 'h2');
    }
    // No call needed: the client comes back on its own.
    expect(await eventually(async () => client.state() === 'up', 30_000)).toBe(true);
    expect(await client.ping()).toBeGreaterThan(0);
    expect((await client.docker.listContainers({ all: true })).map((c) => c.Id).sort()).toEqual(
      await idsOn('h2'),
    );
    const warnings = log.lines.filter((l) => l.level === 'warn').map((l) => l.message);
    expect(warnings[0]).toBe('ssh connection lost');
    expect(warnings).toContain('ssh connection restored');
  });

  it('connects a fleet at once, reporting each failure without holding up the rest', async () => {
    const { clients: up, failures } = await connectHosts(
      [sshHost('h1'), sshHost('h2'), sshHost('h3', { identityFile: join(work, 'missing-key') })],
      options(),
    );
    clients.push(...up.values());
    expect([...up.keys()].sort()).toEqual(['h1', 'h2']);
    expect(failures.get('h3')).toMatchObject({
      kind: 'auth-failed',
      sentence: `identity file ${join(work, 'missing-key')} does not exist`,
    });
  });
});

describe('local engines', () => {
  it('reaches a unix:// engine through the same interface', async () => {
    const client = await connect({
      name: 'local',
      kind: 'docker',
      url: `unix://${hostOf(env, 'h1').socket}`,
      labels: {},
      role: 'manager',
    });
    expect(client.transport()).toBe('unix');
    expect(await client.ping()).toBeGreaterThan(0);
    expect((await client.docker.listContainers({ all: true })).map((c) => c.Id).sort()).toEqual(
      await idsOn('h1'),
    );
  });

  it('reports a unix:// socket that is not there as refused', async () => {
    const error = await refusal(
      connectHost(
        { name: 'gone', kind: 'docker', url: 'unix:///run/no-such-docker.sock', labels: {}, role: 'manager' },
        options(),
      ),
    );
    expect(error).toMatchObject({ kind: 'refused', host: 'gone' });
  });
});

describe('dial-stdio fallback', () => {
  let sshd: ChildProcess | undefined;
  let port = 0;
  let dir = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'heal-sshd-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${env.identityFile}.pub`));
    ({ sshd, port } = await startSshd(dir, ['AllowStreamLocalForwarding=no']));
    const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').split(' ');
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey[0]} ${hostKey[1]}\n`);
  });

  afterAll(async () => {
    if (sshd) await stop(sshd);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('falls back to docker system dial-stdio once when sshd forbids stream-local forwarding', async () => {
    const log = recorder();
    const client = await connect(
      sshHost('h1', { address: '127.0.0.1', port, socket: hostOf(env, 'h1').socket }),
      {
        ssh: { user: null, port: null, identityFile: env.identityFile, knownHosts: join(dir, 'known_hosts') },
        log,
      },
    );
    expect(client.transport()).toBe('ssh-dial-stdio');
    const expected = await idsOn('h1');
    const results = await Promise.all(
      Array.from({ length: 8 }, () => client.docker.listContainers({ all: true })),
    );
    for (const listed of results) expect(listed.map((c) => c.Id).sort()).toEqual(expected);
    expect(log.lines.filter((l) => l.message.startsWith('stream-local forward refused'))).toHaveLength(1);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts an sshd of our own on a free port of 127.0.0.1, with the host key and authorized_keys in
 * `dir` and `options` added, and resolves once it sends its SSH banner. It runs in a mount namespace
 * of its own with a private /run holding /run/sshd, as the test bed's hosts do: sshd exits at once
 * without that privilege-separation directory, which only exists on a machine whose own sshd has
 * run since boot, and the test must not create it in the machine's /run. A port another process
 * took between freePort() and sshd's bind is tried again with a new one.
 */
async function startSshd(dir: string, options: string[]): Promise<{ sshd: ChildProcess; port: number }> {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const sshd = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'mount -t tmpfs -o mode=755 tmpfs /run && mkdir /run/sshd && exec /usr/sbin/sshd "$@"',
        'sshd',
        '-D',
        '-e',
        '-f',
        '/dev/null',
        '-h',
        join(dir, 'host_key'),
        ...[
          `ListenAddress=127.0.0.1:${port}`,
          `AuthorizedKeysFile=${join(dir, 'authorized_keys')}`,
          'StrictModes=no',
          `PidFile=${join(dir, 'sshd.pid')}`,
          'PermitRootLogin=prohibit-password',
          ...options,
        ].flatMap((option) => ['-o', option]),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    sshd.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const outcome = await listened(sshd, port, 60_000);
    if (outcome === 'listening') return { sshd, port };
    await stop(sshd);
    if (outcome === 'exited' && /address already in use/i.test(stderr) && attempt < 3) continue;
    throw new Error(
      outcome === 'exited'
        ? `sshd exited with ${sshd.exitCode ?? sshd.signalCode} before it listened on 127.0.0.1:${port}: ${stderr.trim()}`
        : `sshd did not send its banner on 127.0.0.1:${port} within 60 s: ${stderr.trim() || 'no message'}`,
    );
  }
}

/** Whether `sshd` sends an SSH banner on `port` before it exits, within `ms` (a generous bound). */
async function listened(
  sshd: ChildProcess,
  port: number,
  ms: number,
): Promise<'listening' | 'exited' | 'silent'> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (sshd.exitCode !== null || sshd.signalCode !== null) return 'exited';
    if (await sshBanner(port)) return 'listening';
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return 'silent';
}

/** Whether what answers on 127.0.0.1:`port` starts by sending an SSH identification string. */
function sshBanner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('data', (data: Buffer) => done(data.toString('latin1').startsWith('SSH-')));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

/** SIGTERM to a child that may have exited already (its own failure, or a host's), and wait for its exit. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}
