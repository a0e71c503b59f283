/**
 * A container heal does not own already holds the name heal would give a replica: heal leaves
 * it alone and names its own with a suffix, instead of failing until someone renames it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dockerOn, ensureTestbed, type TestbedEnv } from '../testbed.js';
import { heal } from './helpers.js';

const STACK = 'e2eclash';
let env: TestbedEnv;
let work: string;

async function cleanUp(): Promise<void> {
  const ids = (await dockerOn('h1', 'ps', '-aq', '--filter', `label=io.heal.stack=${STACK}`))
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0) await dockerOn('h1', 'rm', '-f', ...ids);
  await dockerOn('h1', 'rm', '-f', `${STACK}-web-1`).catch(() => undefined);
  await dockerOn('h1', 'network', 'rm', `${STACK}_default`).catch(() => undefined);
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-clash-'));
  const h1 = env.hosts.find((host) => host.name === 'h1')!;
  writeFileSync(
    join(work, 'stack.yml'),
    [
      `name: ${STACK}`,
      'x-heal:',
      `  ssh: { identity_file: ${env.identityFile}, known_hosts: ${env.knownHosts} }`,
      `  hosts: { h1: { ssh: root@${h1.address} } }`,
      'services:',
      `  web: { image: ${env.images.web1} }`,
      '',
    ].join('\n'),
  );
  await cleanUp();
});

afterAll(async () => {
  await cleanUp();
  rmSync(work, { recursive: true, force: true });
});

it('names its replica around a stranger that holds the name, and leaves the stranger alone', async () => {
  const stranger = (await dockerOn('h1', 'run', '-d', '--name', `${STACK}-web-1`, env.images.web1)).trim();
  const applied = await heal(work, 'apply', '--yes');
  expect(applied.code).toBe(0);
  const owned = (
    await dockerOn(
      'h1',
      'ps',
      '--filter',
      `label=io.heal.stack=${STACK}`,
      '--format',
      '{{.Names}} {{.State}}',
    )
  )
    .trim()
    .split('\n');
  expect(owned).toHaveLength(1);
  expect(owned[0]).toMatch(new RegExp(`^${STACK}-web-1-[0-9a-z]+ running$`));
  expect((await dockerOn('h1', 'inspect', '-f', '{{.Id}} {{.State.Running}}', `${STACK}-web-1`)).trim()).toBe(
    `${stranger} true`,
  );
  expect((await heal(work, 'plan', '--detailed-exitcode')).code).toBe(0);
});
