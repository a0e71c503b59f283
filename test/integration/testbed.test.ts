/**
 * The test bed itself: real engines, real SSH, the registry and the failure verbs. Leaves the bed up
 * (h1..h3 running) for the other files; the global teardown takes it down.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { describe, it, expect, beforeAll } from 'vitest';
import {
  dockerOn,
  ensureTestbed,
  hostOf,
  openSshSession,
  sshOn,
  testbed,
  type SshSession,
  type TestbedEnv,
} from '../testbed.js';

type Probe = 'banner' | 'silent' | 'refused' | 'unreachable' | 'timeout';

/** Connects to ADDRESS:22 and waits for the SSH banner, at most `ms` in all. */
function probeSsh(address: string, ms: number): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port: 22 });
    let connected = false;
    const done = (result: Probe): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(connected ? 'silent' : 'timeout'), ms);
    socket.on('connect', () => (connected = true));
    socket.on('data', (data) => done(data.toString('latin1').startsWith('SSH-') ? 'banner' : 'silent'));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      done(
        error.code === 'ECONNREFUSED' ? 'refused' : error.code === 'ETIMEDOUT' ? 'timeout' : 'unreachable',
      ),
    );
  });
}

/** GET http://URL as text; retries (bounded) while the server is not there yet. */
async function fetchText(url: string, attempts = 20): Promise<string> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      return await response.text();
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`GET ${url} failed ${attempts} times: ${String(last)}`);
}

/** Whether the engine on `socket` answers GET /_ping within `ms`. */
function engineAnswers(socket: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: ms }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function statusOf(host: string): Promise<string> {
  const line = (await testbed('status')).split('\n').find((l) => l.startsWith(`${host} `));
  return line?.split(' ')[1] ?? 'absent';
}

describe('test bed', () => {
  let env: TestbedEnv;

  beforeAll(async () => {
    env = await ensureTestbed(3);
  });

  it('describes three hosts, keys, the registry and the images', () => {
    expect(env.hosts.map((h) => [h.name, h.address, h.ssh])).toEqual([
      ['h1', '10.231.0.11', 'root@10.231.0.11'],
      ['h2', '10.231.0.12', 'root@10.231.0.12'],
      ['h3', '10.231.0.13', 'root@10.231.0.13'],
    ]);
    expect(env.registry).toBe('10.231.0.1:5000');
    expect(env.images).toEqual({
      web1: '10.231.0.1:5000/web:v1',
      web2: '10.231.0.1:5000/web:v2',
      crash: '10.231.0.1:5000/crash:v1',
      flaky: '10.231.0.1:5000/flaky:v1',
      sick: '10.231.0.1:5000/sick:v1',
      proxy: '10.231.0.1:5000/proxy:v1',
    });
  });

  it('gives every host its own engine, which knows its own name', async () => {
    for (const host of env.hosts) {
      expect((await dockerOn(host.name, 'info', '--format', '{{.Name}}')).trim()).toBe(host.name);
    }
    const ids = await Promise.all(env.hosts.map((h) => dockerOn(h.name, 'info', '--format', '{{.ID}}')));
    expect(new Set(ids).size).toBe(env.hosts.length);
  });

  it('reaches every engine over real SSH with strict host key checking', async () => {
    for (const host of env.hosts) {
      const out = await sshOn(host.name, 'hostname; docker version --format "{{.Server.Version}}"');
      const [name, version] = out.trim().split('\n');
      expect(name).toBe(host.name);
      expect(version).toMatch(/^\d+\.\d+/);
    }
  });

  it('lets a host pull the web image from the registry, publish a port, and stop it at once', async () => {
    const name = 'testbed-test-web';
    await dockerOn('h2', 'rm', '-f', name);
    try {
      await dockerOn('h2', 'rmi', '-f', env.images.web1); // a real pull, not a cached image
      await dockerOn('h2', 'run', '-d', '--name', name, '-p', '8080:8080', env.images.web1);
      const h2 = hostOf(env, 'h2').address;
      expect(await fetchText(`http://${h2}:8080/`)).toContain('web v1');
      expect((await fetchText(`http://${h2}:8080/health`)).trim()).toBe('ok');
      // A request kept in flight: /cgi-bin/slow?N answers after N seconds, naming the container.
      const id = (await dockerOn('h2', 'inspect', '--format', '{{.Id}}', name)).trim().slice(0, 12);
      expect((await fetchText(`http://${h2}:8080/cgi-bin/slow?1`)).trim()).toBe(`slept 1 s on ${id}`);
      // The healthcheck heal specs use runs inside the image.
      expect((await dockerOn('h2', 'exec', name, 'wget', '-qO-', 'localhost:8080/health')).trim()).toBe('ok');
      const started = Date.now();
      await dockerOn('h2', 'stop', name);
      expect(Date.now() - started).toBeLessThan(2_000); // PID 1 handles SIGTERM: no grace period wait
      expect((await dockerOn('h2', 'inspect', '--format', '{{.State.ExitCode}}', name)).trim()).toBe('0');
    } finally {
      await dockerOn('h2', 'rm', '-f', name);
    }
  });

  it('has a sick image whose health endpoint fails and a crash image that exits 1', async () => {
    const sick = 'testbed-test-sick';
    const crash = 'testbed-test-crash';
    await dockerOn('h1', 'rm', '-f', sick, crash);
    try {
      await dockerOn('h1', 'run', '-d', '--name', sick, env.images.sick);
      await expect(dockerOn('h1', 'exec', sick, 'wget', '-qO-', 'localhost:8080/health')).rejects.toThrow();
      expect(await dockerOn('h1', 'exec', sick, 'wget', '-qO-', 'localhost:8080/')).toContain('sick v1');
      const started = Date.now();
      await dockerOn('h1', 'run', '--name', crash, env.images.crash).catch(() => undefined);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect((await dockerOn('h1', 'inspect', '--format', '{{.State.ExitCode}}', crash)).trim()).toBe('1');
    } finally {
      await dockerOn('h1', 'rm', '-f', sick, crash);
    }
  });

  it('kills a host like a switched-off machine and revives it with its data', async () => {
    const name = 'testbed-test-survivor';
    const h1 = hostOf(env, 'h1').address;
    const h3 = hostOf(env, 'h3').address;
    await dockerOn('h3', 'rm', '-f', name);
    try {
      await dockerOn('h3', 'run', '-d', '--name', name, '--restart', 'always', env.images.web2);
      await testbed('kill', 'h3');
      expect(await statusOf('h3')).toBe('killed');
      expect(await probeSsh(h3, 2_000)).not.toBe('banner');
      expect(await probeSsh(h1, 2_000)).toBe('banner');
      await testbed('revive', 'h3');
      expect(await statusOf('h3')).toBe('running');
      expect(await probeSsh(h3, 2_000)).toBe('banner');
      expect((await sshOn('h3', 'hostname')).trim()).toBe('h3');
      // The container with a restart policy comes back, as after a reboot.
      let state = '';
      for (let i = 0; i < 40 && state !== 'running'; i++) {
        state = (await dockerOn('h3', 'inspect', '--format', '{{.State.Status}}', name)).trim();
        if (state !== 'running') await new Promise((r) => setTimeout(r, 250));
      }
      expect(state).toBe('running');
    } finally {
      await testbed('revive', 'h3');
      await dockerOn('h3', 'rm', '-f', name);
    }
  });

  it('freezes a host: TCP still connects, nothing answers; thaw brings it back', async () => {
    const h2 = hostOf(env, 'h2').address;
    try {
      await testbed('freeze', 'h2');
      expect(await statusOf('h2')).toBe('frozen');
      expect(await probeSsh(h2, 1_500)).toBe('silent');
      expect(await engineAnswers(hostOf(env, 'h2').socket, 1_500)).toBe(false);
    } finally {
      await testbed('thaw', 'h2');
    }
    expect(await statusOf('h2')).toBe('running');
    expect(await probeSsh(h2, 2_000)).toBe('banner');
    expect(await engineAnswers(hostOf(env, 'h2').socket, 2_000)).toBe(true);
    expect((await dockerOn('h2', 'info', '--format', '{{.Name}}')).trim()).toBe('h2');
  });

  it('cuts a host off the network while its engine keeps running; mend reconnects it', async () => {
    const h1 = hostOf(env, 'h1').address;
    try {
      await testbed('cut', 'h1');
      expect(await statusOf('h1')).toBe('running,cut');
      expect(await probeSsh(h1, 2_000)).not.toBe('banner');
      // Only the network is gone: the engine still answers on its socket.
      expect((await dockerOn('h1', 'info', '--format', '{{.Name}}')).trim()).toBe('h1');
    } finally {
      await testbed('mend', 'h1');
    }
    expect(await statusOf('h1')).toBe('running');
    expect(await probeSsh(h1, 2_000)).toBe('banner');
  });

  it('stops the registry so that pulls fail to connect, and starts it again', async () => {
    try {
      await testbed('stop-registry');
      await testbed('stop-registry'); // idempotent
      expect(await testbed('status')).toBe('h1 running\nh2 running\nh3 running\nregistry stopped\n');
      // Even with the image in its cache, a pull asks the registry first.
      await expect(dockerOn('h2', 'pull', env.images.web1)).rejects.toThrow(
        /dial tcp 10\.231\.0\.1:5000: connect: connection refused/,
      );
    } finally {
      await testbed('start-registry');
    }
    expect(await testbed('status')).toBe('h1 running\nh2 running\nh3 running\n');
    expect(await dockerOn('h2', 'pull', '-q', env.images.web1)).toContain(env.images.web1);
  });

  it("restarts a host's engine: containers with a restart policy come back, the others stay exited", async () => {
    const kept = 'testbed-test-policy';
    const lost = 'testbed-test-no-policy';
    const h1 = hostOf(env, 'h1');
    const inspect = async (name: string): Promise<string[]> =>
      (await dockerOn('h1', 'inspect', '--format', '{{.Id}} {{.State.Status}} {{.State.StartedAt}}', name))
        .trim()
        .split(' ');
    await dockerOn('h1', 'rm', '-f', kept, lost);
    try {
      await dockerOn('h1', 'run', '-d', '--name', kept, '--restart', 'unless-stopped', env.images.web1);
      await dockerOn('h1', 'run', '-d', '--name', lost, env.images.web1);
      const [id, , startedAt] = await inspect(kept);
      await testbed('restart-engine', 'h1');
      expect(await engineAnswers(h1.socket, 1_000)).toBe(true);
      let after = await inspect(kept);
      for (let i = 0; i < 40 && after[1] !== 'running'; i++) {
        await new Promise((r) => setTimeout(r, 250));
        after = await inspect(kept);
      }
      expect(after[0]).toBe(id);
      expect(after[1]).toBe('running');
      expect(after[2]).not.toBe(startedAt);
      expect((await inspect(lost))[1]).toBe('exited');
      expect((await sshOn('h1', 'docker ps --format {{.Names}}')).trim().split('\n')).toContain(kept);
      // The new dockerd lives in the host's cgroup: `kill` takes it down with the host.
      await testbed('kill', 'h1');
      expect(await engineAnswers(h1.socket, 1_500)).toBe(false);
    } finally {
      await ensureTestbed(3); // revives h1; starts its dockerd if a restart left none
      await dockerOn('h1', 'rm', '-f', kept, lost);
    }
    expect(await statusOf('h1')).toBe('running');
  });

  it('rekeys a host: sessions drop, clients see a changed host key; restore-key puts the original back', async () => {
    const rekeyedOk = [
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
    ];
    const before = openSshSession(env, 'h2');
    let after: SshSession | undefined;
    try {
      await before.opened;
      await testbed('rekey', 'h2');
      expect(await statusOf('h2')).toBe('running,rekeyed');
      expect(await before.closedWithin(5_000)).toBe(255);
      await expect(sshOn('h2', 'hostname')).rejects.toThrow(/REMOTE HOST IDENTIFICATION HAS CHANGED/);
      await testbed('rekey', 'h2'); // idempotent: the same new key
      // sshd runs and takes the client key: only the host key differs from known_hosts.
      after = openSshSession(env, 'h2', rekeyedOk);
      await after.opened;
      await testbed('restore-key', 'h2');
      expect(await statusOf('h2')).toBe('running');
      expect(await after.closedWithin(5_000)).toBe(255);
      expect((await sshOn('h2', 'hostname')).trim()).toBe('h2');
    } finally {
      before.close();
      after?.close();
      await ensureTestbed(3); // puts back the original key if restore-key did not
    }
  });

  it('revokes the client key on one host: sessions drop, logins fail; grant lets it in again', async () => {
    const name = 'testbed-test-revoke';
    let session: SshSession | undefined;
    await dockerOn('h3', 'rm', '-f', name);
    try {
      await dockerOn('h3', 'run', '-d', '--name', name, env.images.web1);
      const startedAt = await dockerOn('h3', 'inspect', '--format', '{{.State.StartedAt}}', name);
      session = openSshSession(env, 'h3');
      await session.opened;
      await testbed('revoke', 'h3');
      expect(await statusOf('h3')).toBe('running,revoked');
      expect(await session.closedWithin(5_000)).toBe(255);
      await expect(sshOn('h3', 'hostname')).rejects.toThrow(/Permission denied \(publickey\)/);
      expect((await sshOn('h1', 'hostname')).trim()).toBe('h1');
      // Nothing else changed: the engine and its containers run on.
      expect(await dockerOn('h3', 'inspect', '--format', '{{.State.StartedAt}}', name)).toBe(startedAt);
      expect(await dockerOn('h3', 'inspect', '--format', '{{.State.Status}}', name)).toBe('running\n');
      await testbed('grant', 'h3');
      expect(await statusOf('h3')).toBe('running');
      expect((await sshOn('h3', 'hostname')).trim()).toBe('h3');
    } finally {
      session?.close();
      await ensureTestbed(3); // grants again if grant did not
      await dockerOn('h3', 'rm', '-f', name);
    }
  });

  it('shows rekeyed, revoked hosts and a stopped registry in status; up repairs them', async () => {
    try {
      await testbed('rekey', 'h1');
      await testbed('revoke', 'h2');
      await testbed('stop-registry');
      expect(await testbed('status')).toBe(
        'h1 running,rekeyed\nh2 running,revoked\nh3 running\nregistry stopped\n',
      );
      await testbed('up', '3');
      expect(await testbed('status')).toBe('h1 running\nh2 running\nh3 running\n');
      expect((await sshOn('h1', 'hostname')).trim()).toBe('h1');
      expect((await sshOn('h2', 'hostname')).trim()).toBe('h2');
      expect(await dockerOn('h2', 'pull', '-q', env.images.web1)).toContain(env.images.web1);
    } finally {
      await testbed('restore-key', 'h1');
      await testbed('grant', 'h2');
      await testbed('start-registry');
    }
  });

  it('leaves every host running (idempotent up)', async () => {
    await ensureTestbed(3);
    expect(await testbed('status')).toBe('h1 running\nh2 running\nh3 running\n');
  });
});
