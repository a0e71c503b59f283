/**
 * `engine.labels.KEY` reads the labels an engine reports itself (`docker info`, dockerd's
 * `--label`), not the spec's host labels; spreads over them too, and `heal plan` says how.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureTestbed, testbed, type TestbedEnv } from '../testbed.js';
import { cleanStack, containersOnAll, heal } from './helpers.js';

const STACK = 'e2elabels';
const HOSTS = ['h1', 'h2', 'h3'];
let env: TestbedEnv;
let work: string;

beforeAll(async () => {
  env = await ensureTestbed(3);
  await testbed('label-engine', 'h2', 'disk=ssd', 'rack=r2');
  await cleanStack(HOSTS, STACK);
  work = mkdtempSync(join(tmpdir(), 'heal-labels-'));
  const address = (name: string): string => env.hosts.find((host) => host.name === name)!.address;
  writeFileSync(
    join(work, 'stack.yml'),
    [
      `name: ${STACK}`,
      'x-heal:',
      `  ssh: { identity_file: ${env.identityFile}, known_hosts: ${env.knownHosts} }`,
      '  hosts:',
      // h1 says disk: ssd in the spec: a node label, which engine.labels never reads.
      `    h1: { ssh: root@${address('h1')}, labels: { disk: ssd } }`,
      `    h2: { ssh: root@${address('h2')} }`,
      `    h3: { ssh: root@${address('h3')} }`,
      'services:',
      '  fast:',
      `    image: ${env.images.web1}`,
      '    deploy: { replicas: 2, placement: { constraints: [engine.labels.disk == ssd] } }',
      '  spread:',
      `    image: ${env.images.web1}`,
      '    deploy: { replicas: 4, placement: { preferences: [{ spread: engine.labels.rack }] } }',
      '',
    ].join('\n'),
  );
}, 180_000);

afterAll(async () => {
  await cleanStack(HOSTS, STACK);
  await testbed('label-engine', 'h2');
  rmSync(work, { recursive: true, force: true });
}, 180_000);

it("places by the engine's own labels, and spreads over them", async () => {
  const planned = await heal(work, 'plan');
  expect(planned.code).toBe(0);
  expect(planned.stdout).toContain(
    'slot 1 of 4 is missing; spread over engine.labels.rack (r2 0, no engine.labels.rack 0): r2',
  );
  const applied = await heal(work, 'apply', '--yes');
  expect(applied.code).toBe(0);
  const running = await containersOnAll(HOSTS, `label=io.heal.stack=${STACK}`);
  const where = (service: string): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const item of running)
      if (item.service === service && item.state === 'running')
        counts[item.host] = (counts[item.host] ?? 0) + 1;
    return counts;
  };
  expect(where('fast')).toEqual({ h2: 2 });
  // rack r2 (h2) and the hosts without a rack (h1, h3) take two each.
  expect(where('spread')).toEqual({ h1: 1, h2: 2, h3: 1 });
  expect((await heal(work, 'plan', '--detailed-exitcode')).code).toBe(0);
}, 180_000);
