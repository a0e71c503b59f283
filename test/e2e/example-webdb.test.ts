/**
 * examples/webdb end to end: the example's own stack.yml, renamed so it cannot meet a stack a
 * person deployed by hand, applied with the built CLI on the test bed's three hosts. The tests run
 * in order on one stack; every outcome is read from the engines (containers, volumes, mounts) and
 * from what the published ports serve. The web replicas reach db by its name through the routing
 * mesh (db's proxy on every host), so every visit from h1 and h3 crosses to h2.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOn, ensureTestbed, hostOf, type TestbedEnv } from '../testbed.js';
import {
  cleanStack,
  containersOnAll,
  heal,
  killStartedHeals,
  page,
  waitFor,
  type EngineContainer,
  type Run,
} from './helpers.js';

const EXAMPLE = new URL('../../examples/webdb/stack.yml', import.meta.url);
const README = new URL('../../examples/webdb/README.md', import.meta.url);
const HEAL = new URL('../../bin/heal.js', import.meta.url).pathname;
const STACK = 'e2ewebdb';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const OWNED = `label=io.heal.stack=${STACK}`;
const VOLUME = `${STACK}_dbdata`;
/** The port web publishes on every host (db publishes none: it is reached by name). */
const WEB_PORT = 8000;
const DB_PROXY = `${STACK}-db-mesh`;

let env: TestbedEnv;
let work: string;
let example: string;

const run = (...args: string[]): Promise<Run> => heal(work, ...args);
const lines = (text: string): string[] => text.split('\n').filter(Boolean);

/** Runs a shell command line in the work folder, as a person would type it there. */
function sh(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { cwd: work, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The example with its stack renamed, and `changes` applied as exact text replacements. */
function writeSpec(...changes: [from: string, to: string][]): void {
  let text = example.replace(/^name: webdb$/m, `name: ${STACK}`);
  for (const [from, to] of changes) {
    if (!text.includes(from))
      throw new Error(`examples/webdb/stack.yml no longer holds ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  writeFileSync(join(work, 'stack.yml'), text);
}

/** The stack's replicas (a slot each): the mesh's proxies are left out. */
async function owned(): Promise<EngineContainer[]> {
  return (await containersOnAll(HOSTS, OWNED)).filter((container) => container.slot !== null);
}

/** The hosts running db's mesh proxy. */
async function proxies(): Promise<string[]> {
  return (await containersOnAll(HOSTS, OWNED))
    .filter((container) => container.name === DB_PROXY && container.state === 'running')
    .map((container) => container.host)
    .sort();
}

/** Per service, how many containers run on each host. */
function spread(containers: readonly EngineContainer[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const container of containers) {
    const hosts = (out[container.service] ??= {});
    hosts[container.host] = (hosts[container.host] ?? 0) + 1;
  }
  return out;
}

/** The one db container; throws when there is not exactly one. */
async function db(): Promise<EngineContainer> {
  const found = (await owned()).filter((container) => container.service === 'db');
  if (found.length !== 1) throw new Error(`expected one db container, found ${JSON.stringify(found)}`);
  return found[0]!;
}

const address = (host: string): string => hostOf(env, host).address;

/** How many hits the database holds, read from its volume in the db container on h2. */
async function count(): Promise<string> {
  return (await dockerOn('h2', 'exec', (await db()).id, 'sh', '-c', 'wc -l </data/hits')).trim();
}

/** A visit through the web replica on `host`: "N hits, served by CONTAINER", null when it fails. */
function hit(host: string): Promise<string | null> {
  return page(address(host), WEB_PORT, '/cgi-bin/hits');
}

/** Hostnames of the web containers that wrote to the database, read from the volume itself. */
async function writers(): Promise<string[]> {
  return lines(await dockerOn('h2', 'exec', (await db()).id, 'cat', '/data/hits'));
}

async function volumesOn(host: string): Promise<string[]> {
  return lines(await dockerOn(host, 'volume', 'ls', '-q', '--filter', OWNED));
}

async function applied(summary: string): Promise<void> {
  const result = await run('apply', '--yes');
  expect(result.stderr).toBe('');
  expect(result.stdout).toContain(summary);
  expect(result.code).toBe(0);
}

async function expectConverged(): Promise<void> {
  const again = await run('plan', '--detailed-exitcode');
  expect(again.stdout).toContain('No changes. The hosts match the spec.');
  expect(again.code).toBe(0);
}

/** The example publishes fixed ports: a container of another stack holding one would move a replica. */
async function expectPortsFree(): Promise<void> {
  for (const host of HOSTS) {
    for (const port of [WEB_PORT]) {
      const holders = lines(
        await dockerOn(host, 'ps', '--filter', `publish=${port}`, '--format', '{{.Names}}'),
      );
      if (holders.length > 0)
        throw new Error(`port ${port} on ${host} is taken by ${holders.join(', ')}: remove it first`);
    }
  }
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-e2e-webdb-'));
  example = readFileSync(EXAMPLE, 'utf8');
  await cleanStack(HOSTS, STACK);
  await expectPortsFree();
});

afterAll(async () => {
  killStartedHeals();
  if (env) await cleanStack(HOSTS, STACK);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('examples/webdb on three hosts', () => {
  it('names the test bed: its hosts, key and known_hosts', async () => {
    writeSpec();
    const config = await run('config', '--json');
    expect(config.code).toBe(0);
    const xHeal = (
      JSON.parse(config.stdout) as {
        'x-heal': {
          ssh: { user: string; identity_file: string; known_hosts: string };
          hosts: Record<string, { ssh: string }>;
        };
      }
    )['x-heal'];
    expect(xHeal.ssh).toMatchObject({
      user: 'root',
      identity_file: env.identityFile,
      known_hosts: env.knownHosts,
    });
    expect(Object.fromEntries(Object.entries(xHeal.hosts).map(([name, host]) => [name, host.ssh]))).toEqual(
      Object.fromEntries(env.hosts.map((host) => [host.name, host.address])),
    );
    // The web replicas reach the database by its name, not by a host's address.
    expect(example).toContain('DB_URL: http://db:8080');
    expect(example).not.toMatch(/DB_URL: http:\/\/\d/);
  });

  it('plans db and its volume on h2 only, and the web replicas after db', async () => {
    const planned = await run('plan', '--json');
    expect(planned.stderr).toBe('');
    expect(planned.code).toBe(0);
    const plan = JSON.parse(planned.stdout) as {
      actions: { kind: string; host: string; service: string | null; phase: number; volume?: string }[];
      unplaced: unknown[];
    };
    expect(plan.unplaced).toEqual([]);
    const creates = plan.actions.filter((action) => action.kind === 'create');
    expect(creates.map((action) => `${action.service}@${action.host}`).sort()).toEqual([
      'db@h2',
      'web@h1',
      'web@h2',
      'web@h3',
    ]);
    expect(
      plan.actions
        .filter((action) => action.kind === 'create-volume')
        .map((action) => [action.host, action.volume]),
    ).toEqual([['h2', VOLUME]]);
    // depends_on db (service_healthy): every web replica is created in a later phase than db.
    const dbPhase = creates.find((action) => action.service === 'db')!.phase;
    for (const action of creates.filter((item) => item.service === 'web'))
      expect(action.phase).toBeGreaterThan(dbPhase);
  });

  it('applies: db on h2 with the named volume at /data, one healthy web replica per host', async () => {
    await applied(
      'Plan: 4 to create, 0 to replace, 0 to start, 0 to remove; mesh: 3 proxies to create or replace.',
    );
    const containers = await owned();
    expect(containers.every((container) => container.state === 'running')).toBe(true);
    expect(spread(containers)).toEqual({ db: { h2: 1 }, web: { h1: 1, h2: 1, h3: 1 } });
    // db's proxy on every host carries its name; db itself publishes nothing on the hosts.
    expect(await proxies()).toEqual(['h1', 'h2', 'h3']);
    expect(await dockerOn('h2', 'port', (await db()).id)).not.toMatch(/0\.0\.0\.0|:::/);
    for (const container of containers)
      expect(
        await dockerOn(container.host, 'inspect', '--format', '{{.State.Health.Status}}', container.id),
      ).toBe('healthy\n');
    expect(await volumesOn('h1')).toEqual([]);
    expect(await volumesOn('h2')).toEqual([VOLUME]);
    expect(await volumesOn('h3')).toEqual([]);
    const mounts = await dockerOn(
      'h2',
      'inspect',
      '--format',
      '{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}',
      (await db()).id,
    );
    expect(mounts.trim()).toBe(`volume ${VOLUME} /data`);
    await expectConverged();
  });

  it('every web replica reaches the database by its name, h1 and h3 across hosts', async () => {
    expect(await count()).toBe('0');
    const web = (await owned()).filter((container) => container.service === 'web');
    const hostnames: string[] = [];
    for (const [index, host] of HOSTS.entries()) {
      const container = web.find((item) => item.host === host)!;
      // A container's hostname is its short id: the answer names the replica that served it.
      const hostname = container.id.slice(0, 12);
      hostnames.push(hostname);
      expect(await hit(host)).toBe(`${index + 1} hits, served by ${hostname}`);
    }
    expect(await count()).toBe('3');
    expect(await writers()).toEqual(hostnames);
  });

  it('keeps the data when db is killed and heal starts it again; web fails while it is down', async () => {
    const before = await db();
    await dockerOn('h2', 'kill', before.id);
    await waitFor('db to stop', 10_000, async () => ((await db()).state === 'exited' ? true : undefined));
    // The web replicas really depend on the database: they serve, but a visit fails.
    expect(await page(address('h1'), WEB_PORT, '/health')).toBe('ok');
    expect(await hit('h1')).toBeNull();

    await applied('Plan: 0 to create, 0 to replace, 1 to start, 0 to remove; mesh: 3 proxies to sync.');
    const after = await db();
    expect([after.id, after.host, after.state]).toEqual([before.id, 'h2', 'running']);
    expect(await count()).toBe('3');
    expect(await hit('h1')).toMatch(/^4 hits, served by /);
  });

  it('keeps the data when the db container is removed and heal creates a new one', async () => {
    const before = await db();
    // -v removes a container's anonymous volumes, never a named one.
    await dockerOn('h2', 'rm', '-f', '-v', before.id);
    await applied('Plan: 1 to create, 0 to replace, 0 to start, 0 to remove; mesh: 3 proxies to sync.');
    const after = await db();
    expect(after.id).not.toBe(before.id);
    expect([after.host, after.state]).toEqual(['h2', 'running']);
    expect(await count()).toBe('4');
    expect(await hit('h2')).toMatch(/^5 hits, served by /);
  });

  it('a new db config replaces the container on h2 and the volume carries the data over', async () => {
    const before = await owned();
    const oldDb = before.find((container) => container.service === 'db')!;
    const webIds = before.filter((container) => container.service === 'web').map((container) => container.id);
    // An engine upgrade: db's image only (db is the first service, its image the line after).
    writeSpec([`  db:\n    image: ${env.images.web1}\n`, `  db:\n    image: ${env.images.web2}\n`]);
    await applied('Plan: 0 to create, 1 to replace, 0 to start, 0 to remove.');

    const after = await owned();
    const newDb = after.find((container) => container.service === 'db')!;
    expect(newDb.id).not.toBe(oldDb.id);
    expect([newDb.host, newDb.state]).toEqual(['h2', 'running']);
    expect(await dockerOn('h2', 'inspect', '--format', '{{.Config.Image}}', newDb.id)).toBe(
      `${env.images.web2}\n`,
    );
    // The web replicas were left alone: only db's config changed.
    expect(after.filter((container) => container.service === 'web').map((container) => container.id)).toEqual(
      webIds,
    );
    expect(await count()).toBe('5');
    expect(await hit('h3')).toMatch(/^6 hits, served by /);
    expect(await writers()).toHaveLength(6);
    expect(await volumesOn('h2')).toEqual([VOLUME]);
    await expectConverged();
  });

  it("the README's teardown removes the stack, its networks, its volume and its lock", async () => {
    // The README's command as written, on this test's copy of the file.
    const command = /^\{ sed .*\n.*--prune-volumes$/m.exec(readFileSync(README, 'utf8'))?.[0];
    expect(command).toBeDefined();
    const result = await sh(
      command!.replaceAll('examples/webdb/stack.yml', 'stack.yml').replace('npx heal', `node ${HEAL}`),
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(
      'Plan: 0 to create, 0 to replace, 0 to start, 4 to remove; mesh: 3 proxies to remove.',
    );
    expect(result.code).toBe(0);
    expect(await owned()).toEqual([]);
    for (const host of HOSTS) {
      expect(await volumesOn(host)).toEqual([]);
      expect(await dockerOn(host, 'network', 'ls', '-q', '--filter', OWNED)).toBe('');
      expect(await dockerOn(host, 'ps', '-aq', '--filter', `name=^heal-lock-${STACK}$`)).toBe('');
    }
  });
});
