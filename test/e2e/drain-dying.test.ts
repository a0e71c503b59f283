/**
 * The Dying condition on the test bed (issue 19): three services whose containers crash (the
 * `crash` image exits 1), all placed on h1, keep dying there while the daemon restarts them; the
 * engine's events show it, `heal hosts` reads Dying on h1 only, naming the services, and the
 * daemon cordons h1 (grace shortened in the spec; `drain_after: never`, so nothing moves).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bedSpecHead, ensureTestbed, type TestbedEnv } from '../testbed.js';
import { cleanStack, heal } from './helpers.js';
import {
  freePort,
  killStartedWatches,
  metric,
  metricsOf,
  startWatch,
  statusOf,
  until,
  type Watch,
} from './watch-helpers.js';

const STACK = 'e2edying';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const CRASHING = ['c1', 'c2', 'c3'] as const;

let env: TestbedEnv;
let work: string;
let daemon: Watch;

function specText(): string {
  return [
    ...bedSpecHead(env, STACK, [
      '  watch: { interval: 2s }',
      '  conditions: { grace: 2s, drain_after: never, dying: { services: 3, window: 2m } }',
    ]),
    'services:',
    ...CRASHING.flatMap((name) => [
      `  ${name}:`,
      `    image: ${env.images.crash}`,
      '    deploy:',
      '      placement: { constraints: [node.hostname == h1] }',
    ]),
    '',
  ].join('\n');
}

type HostRow = { name: string; conditions: { type: string; message: string }[] };

beforeAll(async () => {
  env = await ensureTestbed(3);
  await cleanStack([...HOSTS], STACK);
  work = mkdtempSync(join(tmpdir(), 'heal-dying-'));
  writeFileSync(join(work, 'stack.yml'), specText());
  daemon = startWatch(
    work,
    ['-f', 'stack.yml', '--allow-ssh', dirname(env.identityFile)],
    await freePort(),
    {},
  );
}, 120_000);

afterAll(async () => {
  killStartedWatches();
  if (env) await cleanStack([...HOSTS], STACK);
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('Dying', () => {
  it('containers of 3 services dying on h1 make it Dying, and the daemon cordons it', async () => {
    const rows = await until(
      'Dying on h1 in heal hosts',
      60_000,
      async () => {
        const listed = await heal(work, 'hosts', '--json', '-f', 'stack.yml');
        const parsed = JSON.parse(listed.stdout) as HostRow[];
        return parsed.find((row) => row.name === 'h1')?.conditions.some((item) => item.type === 'Dying')
          ? parsed
          : undefined;
      },
      1_000,
    );
    const h1 = rows.find((row) => row.name === 'h1')!;
    const dying = h1.conditions.find((item) => item.type === 'Dying')!;
    expect(dying.message).toMatch(
      /^containers of 3 services died in the last 2m: c1 \(\d+ exits?\), c2 .*, c3 /,
    );
    for (const other of rows.filter((row) => row.name !== 'h1'))
      expect(other.conditions.map((item) => item.type)).not.toContain('Dying');
    await until(
      'h1 cordoned by the daemon',
      60_000,
      async () => {
        const status = (await statusOf(daemon.port)) as unknown as {
          availability?: { host: string; availability: string; reason: string | null }[];
        };
        const standing = status.availability?.find((item) => item.host === 'h1');
        return standing?.availability === 'pause' && standing.reason?.startsWith('Dying for')
          ? true
          : undefined;
      },
      1_000,
    );
    expect(daemon.lines().some((line) => line.msg === 'host cordoned' && line.host === 'h1')).toBe(true);
    const metrics = await metricsOf(daemon.port);
    expect(metric(metrics, 'heal_host_condition', { host: 'h1', condition: 'Dying' })).toBe(1);
    expect(metric(metrics, 'heal_host_condition', { host: 'h2', condition: 'Dying' })).toBe(0);
  }, 150_000);
});
