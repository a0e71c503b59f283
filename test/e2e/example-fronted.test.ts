/**
 * examples/fronted end to end: one HAProxy per host in front of app replicas that publish no port,
 * on the test bed's three hosts, with the built CLI. The app rolls from web v1 to web v2
 * start-first while requests go to every host's proxy all along: not one may fail.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOn, ensureTestbed, type TestbedEnv } from '../testbed.js';
import { cleanStack, heal, killStartedHeals, page, startHeal, waitFor } from './helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/fronted/', import.meta.url));
const STACK = 'e2efronted';
const OWNED = `label=io.heal.stack=${STACK}`;
/** The proxies' published port, as the example has it. */
const PORT = 8000;
/** Requests sent to each host's proxy every 100 ms during the rollout. */
const PER_HOST = 2;
/** The rollout's load stops by itself after this long, whatever heal does. */
const LOAD_LIMIT_MS = 240_000;

let env: TestbedEnv;
let work: string;
let hosts: string[];

/** The example's spec under the test's stack name, with its image lines replaced by `images`. */
function writeSpec(images: Readonly<Record<string, string>> = {}): void {
  let text = readFileSync(join(EXAMPLE, 'stack.yml'), 'utf8');
  const edits: [RegExp, string][] = [
    [/^name: fronted$/m, `name: ${STACK}`],
    ...Object.entries(images).map(([from, to]): [RegExp, string] => [
      new RegExp(`^(\\s+image: )${from.replace(/[.:/]/g, '\\$&')}(\\s|$)`, 'm'),
      `$1${to}$2`,
    ]),
  ];
  for (const [pattern, replacement] of edits) {
    if (!pattern.test(text)) throw new Error(`examples/fronted/stack.yml has no line matching ${pattern}`);
    text = text.replace(pattern, replacement);
  }
  writeFileSync(join(work, 'stack.yml'), text);
}

type Container = {
  id: string;
  host: string;
  service: string;
  image: string;
  state: string;
  health: string;
  ports: string;
};

/** Every container of the stack, read from the engines. */
async function containers(): Promise<Container[]> {
  const format = '{{.ID}}\t{{.Label "io.heal.service"}}\t{{.Image}}\t{{.State}}\t{{.Status}}\t{{.Ports}}';
  const lists = await Promise.all(
    hosts.map(async (host) =>
      (await dockerOn(host, 'ps', '-a', '--filter', OWNED, '--format', format))
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [id = '', service = '', image = '', state = '', status = '', ports = ''] = line.split('\t');
          const health = /\(healthy\)/.test(status)
            ? 'healthy'
            : /\(unhealthy\)/.test(status)
              ? 'unhealthy'
              : '';
          return { id, host, service, image, state, health, ports };
        }),
    ),
  );
  return lists.flat();
}

/** Host → number of containers of `service` on it. */
function perHost(list: readonly Container[], service: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of list) if (c.service === service) out[c.host] = (out[c.host] ?? 0) + 1;
  return out;
}

type Answer = { host: string; startedAt: number; status: number | null; body: string; error: string | null };

async function ask(host: string, address: string): Promise<Answer> {
  const startedAt = Date.now();
  try {
    const response = await fetch(`http://${address}:${PORT}/`, { signal: AbortSignal.timeout(5_000) });
    return { host, startedAt, status: response.status, body: (await response.text()).trim(), error: null };
  } catch (error) {
    return { host, startedAt, status: null, body: '', error: String(error) };
  }
}

const failed = (answer: Answer): boolean =>
  answer.status !== 200 || (answer.body !== 'web v1' && answer.body !== 'web v2');

/**
 * Sends PER_HOST requests to every host's proxy each 100 ms while `running()` says so, and 1 s
 * after; never longer than LOAD_LIMIT_MS. Returns every answer, in the order sent.
 */
async function loadWhile(running: () => boolean): Promise<Answer[]> {
  const sent: Promise<Answer>[] = [];
  const deadline = Date.now() + LOAD_LIMIT_MS;
  let stopAt = Number.POSITIVE_INFINITY;
  while (Date.now() < Math.min(deadline, stopAt)) {
    if (!running() && stopAt === Number.POSITIVE_INFINITY) stopAt = Date.now() + 1_000;
    for (const host of env.hosts) for (let i = 0; i < PER_HOST; i++) sent.push(ask(host.name, host.address));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return Promise.all(sent);
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  hosts = env.hosts.map((host) => host.name);
  work = mkdtempSync(join(tmpdir(), 'heal-e2e-fronted-'));
  copyFileSync(join(EXAMPLE, 'haproxy.cfg'), join(work, 'haproxy.cfg'));
  await cleanStack(hosts, STACK);
});

afterAll(async () => {
  killStartedHeals();
  if (env) await cleanStack(hosts, STACK);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('examples/fronted: HAProxy in front of a start-first rollout', () => {
  let proxies: string[] = [];

  it('deploys a proxy on every host and 6 unpublished app replicas, 2 per host, each proxy serving its own', async () => {
    writeSpec();
    const applied = await heal(work, 'apply', '--yes');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);

    const list = await containers();
    expect(list.every((c) => c.state === 'running')).toBe(true);
    expect(perHost(list, 'proxy')).toEqual({ h1: 1, h2: 1, h3: 1 });
    expect(perHost(list, 'app')).toEqual({ h1: 2, h2: 2, h3: 2 });
    const apps = list.filter((c) => c.service === 'app');
    expect(apps.every((c) => c.image === env.images.web1 && c.health === 'healthy')).toBe(true);
    // No host port on the app: the proxies are its only way in.
    expect(apps.map((c) => c.ports)).toEqual(Array(6).fill('8080/tcp'));
    proxies = list.filter((c) => c.service === 'proxy').map((c) => c.id);

    for (const host of env.hosts) {
      await waitFor(`${host.name}'s proxy to serve web v1`, 30_000, async () =>
        (await page(host.address, PORT)) === 'web v1' ? true : undefined,
      );
      // Each proxy balances over the two replicas of its own host, found by name in DNS.
      const own = apps.filter((c) => c.host === host.name).map((c) => c.id.slice(0, 12));
      const seen = new Set<string | null>();
      await waitFor(`${host.name}'s proxy to reach both of its replicas`, 30_000, async () => {
        seen.add(await page(host.address, PORT, '/host'));
        return own.every((id) => seen.has(id)) ? true : undefined;
      });
      expect([...seen].sort()).toEqual([...own].sort());
    }
  });

  it('rolls the app to web v2 one replica at a time, start-first, and no request through the proxies fails', async () => {
    writeSpec({ [env.images.web1]: env.images.web2 });
    const planned = await heal(work, 'plan');
    expect(planned.code).toBe(0);
    expect(planned.stdout).toMatch(
      /rolling update to v1:\w+: 6 slot\(s\) in 6 batch\(es\) of 1.*start-first/,
    );

    const started = startHeal(work, ['apply', '--yes']);
    const answers = await loadWhile(started.running);
    const applied = await started.done;
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/app: rollout done, 6 of 6 slots updated/);

    const failures = answers.filter(failed);
    console.log(
      `fronted rollout: ${answers.length} requests in ${applied.ms} ms of apply, ${failures.length} failed`,
    );
    expect(failures).toEqual([]);
    // The load covered the whole rollout: at least 10 requests a second, on every host.
    expect(answers.length).toBeGreaterThan((applied.ms / 1000) * 10);
    for (const host of hosts) {
      const own = answers.filter((answer) => answer.host === host);
      expect(own.length).toBeGreaterThan(0);
      // Each proxy switched from v1 to v2 as its replicas were replaced.
      expect(own[0]?.body).toBe('web v1');
      expect(own.at(-1)?.body).toBe('web v2');
    }
    // Once heal is done, no v1 is left to answer.
    const after = answers.filter((answer) => answer.startedAt > applied.endedAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((answer) => answer.body !== 'web v2')).toEqual([]);

    const list = await containers();
    expect(list.every((c) => c.state === 'running')).toBe(true);
    const apps = list.filter((c) => c.service === 'app');
    expect(perHost(list, 'app')).toEqual({ h1: 2, h2: 2, h3: 2 });
    expect(apps.every((c) => c.image === env.images.web2 && c.health === 'healthy')).toBe(true);
    // The proxies were not touched.
    expect(
      list
        .filter((c) => c.service === 'proxy')
        .map((c) => c.id)
        .sort(),
    ).toEqual([...proxies].sort());
  }, 300_000);
});
