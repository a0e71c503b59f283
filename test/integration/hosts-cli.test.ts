/**
 * `heal hosts` and `heal ps` as a user runs them: the built CLI, a spec naming the test bed's
 * hosts, real sshd and dockerd. Every failure verb used here is undone in the same test.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOn, ensureTestbed, testbed, type TestbedEnv } from '../testbed.js';

const HEAL = new URL('../../bin/heal.js', import.meta.url).pathname;
const STACK = 'hoststest';

let env: TestbedEnv;
let work: string;

type Run = { code: number; stdout: string; stderr: string; ms: number };

function heal(...args: string[]): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('node', [HEAL, ...args], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started }));
  });
}

function writeSpec(file: string, knownHosts: string): void {
  const hosts = env.hosts.map((host) => `    ${host.name}: { ssh: root@${host.address} }`).join('\n');
  writeFileSync(
    join(work, file),
    [
      `name: ${STACK}`,
      'x-heal:',
      `  ssh: { identity_file: ${env.identityFile}, known_hosts: ${knownHosts} }`,
      '  hosts:',
      hosts,
      'services:',
      `  web: { image: ${env.images.web1} }`,
      '',
    ].join('\n'),
  );
}

type HostJson = {
  name: string;
  reachable: boolean;
  engineVersion: string | null;
  error: string | null;
  containers: { owned: number; total: number } | null;
};

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-hosts-'));
  writeSpec('stack.yml', env.knownHosts);
});

afterAll(async () => {
  for (const host of env.hosts) {
    await dockerOn(host.name, 'rm', '-f', 'hoststest-web-1', 'not-heals').catch(() => undefined);
  }
  rmSync(work, { recursive: true, force: true });
});

describe('heal hosts', () => {
  it('reports every host reachable with its engine version, exit 0', async () => {
    const run = await heal('hosts', '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const rows = JSON.parse(run.stdout) as HostJson[];
    expect(rows.map((row) => [row.name, row.reachable, row.error])).toEqual(
      env.hosts.map((host) => [host.name, true, null]),
    );
    for (const row of rows) expect(row.engineVersion).toMatch(/^\d+\.\d+/);
  });

  it("counts owned and total containers, and ps lists only the stack's own", async () => {
    await dockerOn(
      'h2',
      'run',
      '-d',
      '--name',
      'hoststest-web-1',
      '--label',
      `io.heal.stack=${STACK}`,
      '--label',
      'io.heal.service=web',
      '--label',
      'io.heal.slot=1',
      env.images.web1,
    );
    await dockerOn('h2', 'run', '-d', '--name', 'not-heals', env.images.web1);

    const hosts = JSON.parse((await heal('hosts', '--json')).stdout) as HostJson[];
    expect(hosts.find((row) => row.name === 'h2')?.containers).toEqual({ owned: 1, total: 2 });

    const ps = await heal('ps', '--json');
    expect(ps.code).toBe(0);
    const rows = JSON.parse(ps.stdout) as {
      service: string;
      slot: number;
      host: string;
      name: string;
      image: string;
      state: string;
      health: string;
    }[];
    expect(
      rows.map(({ service, slot, host, name, image, state, health }) => ({
        service,
        slot,
        host,
        name,
        image,
        state,
        health,
      })),
    ).toEqual([
      {
        service: 'web',
        slot: 1,
        host: 'h2',
        name: 'hoststest-web-1',
        image: env.images.web1,
        state: 'running',
        health: 'none',
      },
    ]);
    const table = await heal('ps');
    expect(table.stdout).toMatch(/^SERVICE\s+SLOT\s+HOST/);
    expect(table.stdout.split('\n')[1]).toMatch(/^web\s+1\s+h2\s+\w{12}\s+\S+web:v1\s+running\s+none$/);
  });

  it('reports a frozen host as a timeout within the connect timeout while the others answer', async () => {
    await testbed('freeze', 'h3');
    try {
      const run = await heal('hosts', '--json', '--connect-timeout', '2');
      expect(run.code).toBe(1);
      const rows = JSON.parse(run.stdout) as HostJson[];
      expect(rows.filter((row) => row.reachable).map((row) => row.name)).toEqual(['h1', 'h2']);
      expect(rows.find((row) => row.name === 'h3')?.error).toMatch(/timeout/);
      expect(run.ms).toBeLessThan(8_000);
    } finally {
      await testbed('thaw', 'h3');
    }
    expect((await heal('hosts', '--json')).code).toBe(0);
  });

  it('reports a cut-off host unreachable, and reaches it again once mended', async () => {
    await testbed('cut', 'h2');
    try {
      const run = await heal('hosts', '--json', '--connect-timeout', '2');
      expect(run.code).toBe(1);
      const rows = JSON.parse(run.stdout) as HostJson[];
      expect(rows.find((row) => row.name === 'h2')?.reachable).toBe(false);
      expect(rows.find((row) => row.name === 'h2')?.error).toMatch(/timeout|unreachable/);
    } finally {
      await testbed('mend', 'h2');
    }
    expect((await heal('hosts', '--json')).code).toBe(0);
  });

  it('reports a switched-off host, and reaches it again after it reboots', async () => {
    await testbed('kill', 'h3');
    try {
      const run = await heal('hosts', '--json', '--connect-timeout', '2');
      expect(run.code).toBe(1);
      expect((JSON.parse(run.stdout) as HostJson[]).find((row) => row.name === 'h3')?.reachable).toBe(false);
    } finally {
      await testbed('revive', 'h3');
    }
    expect((await heal('hosts', '--json')).code).toBe(0);
  });
});

describe('host keys', () => {
  it('refuses a changed host key loudly and touches nothing', async () => {
    const forged = join(work, 'forged_known_hosts');
    const other = readFileSync(env.knownHosts, 'utf8').split('\n').filter(Boolean);
    // Give each address the key of another host: every key is "changed".
    const keys = other.map((line) => line.split(' ').slice(1).join(' '));
    writeFileSync(
      forged,
      other.map((line, index) => `${line.split(' ')[0]} ${keys[(index + 1) % keys.length]}`).join('\n') +
        '\n',
    );
    writeSpec('forged.yml', forged);
    const run = await heal('hosts', '-f', 'forged.yml', '--json');
    expect(run.code).toBe(1);
    const rows = JSON.parse(run.stdout) as HostJson[];
    for (const row of rows) {
      expect(row.reachable).toBe(false);
      expect(row.error).toMatch(/host key (changed|has changed)|host-key-changed/i);
    }
  });

  it('refuses an unknown host key with how to trust it, and records it only when asked', async () => {
    const empty = join(work, 'empty_known_hosts');
    writeFileSync(empty, '');
    writeSpec('unknown.yml', empty);
    const refused = await heal('hosts', '-f', 'unknown.yml', '--json');
    expect(refused.code).toBe(1);
    for (const row of JSON.parse(refused.stdout) as HostJson[]) expect(row.error).toMatch(/ssh-keyscan/);
    expect(readFileSync(empty, 'utf8')).toBe('');

    const accepted = await heal('hosts', '-f', 'unknown.yml', '--json', '--accept-new-host-keys');
    expect(accepted.code).toBe(0);
    const recorded = readFileSync(empty, 'utf8');
    for (const host of env.hosts) expect(recorded).toContain(host.address);
    expect((await heal('hosts', '-f', 'unknown.yml', '--json')).code).toBe(0);
  });
});
