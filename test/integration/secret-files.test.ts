/**
 * Secret and config files reach containers as the spec was loaded, on a real engine: after the
 * load, the secret on disk is rotated and the config deleted (what a rejected commit's checkout
 * does to the last good spec's files), and the container still gets the loaded bytes.
 * The stack is named heal-sf-test and removed from the host before and after.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apply } from '../../src/executor/apply.js';
import { openFleet, type Fleet } from '../../src/executor/fleet.js';
import { observe } from '../../src/executor/observe.js';
import { plan } from '../../src/planner/plan.js';
import { loadStack } from '../../src/spec/load.js';
import { newStackKey } from '../../src/spec/keyed-hash.js';
import { cleanStack } from '../e2e/helpers.js';
import { dockerAt } from '../e2e/watch-helpers.js';
import { testbedEnv, type TestbedEnv } from '../testbed.js';

const STACK = 'heal-sf-test';

let env: TestbedEnv;
let folder: string;
let fleet: Fleet | undefined;

/** Every container, network and volume of the stack on h1 (the tests use h1 only). */
const removeStack = (): Promise<void> => cleanStack(['h1'], STACK);

beforeAll(async () => {
  env = await testbedEnv();
  await removeStack();
  folder = mkdtempSync(join(tmpdir(), 'heal-sf-'));
  writeFileSync(join(folder, 'token.txt'), 'loaded-token\n');
  writeFileSync(join(folder, 'app.conf'), 'loaded-config\n');
  writeFileSync(
    join(folder, 'stack.yml'),
    [
      `name: ${STACK}`,
      'x-heal:',
      `  hosts: { h1: { docker: "unix://${env.hosts[0]!.socket}" } }`,
      'services:',
      '  web:',
      `    image: ${env.images.web1}`,
      '    secrets: [token]',
      '    configs: [{ source: app, target: /etc/app.conf }]',
      'secrets: { token: { file: token.txt } }',
      'configs: { app: { file: app.conf } }',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await fleet?.close();
  if (env) await removeStack();
  if (folder) rmSync(folder, { recursive: true, force: true });
});

describe('files copied into containers', () => {
  it('are the bytes read at load, not what the disk holds at apply', async () => {
    const stack = await loadStack({ file: 'stack.yml', cwd: folder, environment: {} });
    writeFileSync(join(folder, 'token.txt'), 'rotated-token\n');
    unlinkSync(join(folder, 'app.conf'));

    fleet = openFleet(stack);
    const observed = await observe(stack, fleet.reach, Date.now);
    const report = await apply(
      plan(stack, observed, { now: Date.now(), freshStackKey: newStackKey() }),
      stack,
      { reach: fleet.reach },
    );
    expect(report.outcomes.filter((outcome) => outcome.result !== 'done')).toEqual([]);

    const name = (await dockerAt(env, 'h1', ['ps', '-q', '--filter', `label=io.heal.stack=${STACK}`])).trim();
    expect(await dockerAt(env, 'h1', ['exec', name, 'cat', '/run/secrets/token'])).toBe('loaded-token\n');
    expect(await dockerAt(env, 'h1', ['exec', name, 'cat', '/etc/app.conf'])).toBe('loaded-config\n');
  });

  it('are in a container that an apply created and did not start: the next apply replaces it', async () => {
    writeFileSync(join(folder, 'token.txt'), 'loaded-token\n');
    writeFileSync(join(folder, 'app.conf'), 'loaded-config\n');
    const stack = await loadStack({ file: 'stack.yml', cwd: folder, environment: {} });
    await dockerAt(env, 'h1', ['rm', '-f', '-v', await replicaOnH1()]);
    // What a heal SIGKILLed between its create and its copies leaves: the planned container, created.
    const observed = await observe(stack, fleet!.reach, Date.now);
    const made = plan(stack, observed, { now: Date.now(), freshStackKey: newStackKey() });
    const create = made.actions.find((action) => action.kind === 'create');
    if (create?.kind !== 'create') throw new Error(`no create planned: ${JSON.stringify(made.actions)}`);
    await engineCreate(env.hosts[0]!.socket, create.create.query, create.create.body);
    expect(await dockerAt(env, 'h1', ['inspect', '-f', '{{.State.Status}}', await replicaOnH1()])).toBe(
      'created\n',
    );

    const again = await observe(stack, fleet!.reach, Date.now);
    const healed = plan(stack, again, { now: Date.now() });
    expect(healed.actions.map((action) => [action.kind, action.reason])).toEqual([
      ['replace', 'created but never started (its files may be missing)'],
    ]);
    const report = await apply(healed, stack, { reach: fleet!.reach });
    expect(report.outcomes.filter((outcome) => outcome.result !== 'done')).toEqual([]);
    const name = await replicaOnH1();
    expect(await dockerAt(env, 'h1', ['exec', name, 'cat', '/run/secrets/token'])).toBe('loaded-token\n');
  });
});

async function replicaOnH1(): Promise<string> {
  return (await dockerAt(env, 'h1', ['ps', '-aq', '--filter', `label=io.heal.stack=${STACK}`])).trim();
}

/** POST /containers/create on an engine's socket with heal's planned query and body, as apply does. */
function engineCreate(socket: string, query: Readonly<Record<string, string>>, body: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        socketPath: socket,
        path: `/containers/create?${new URLSearchParams(query).toString()}`,
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () =>
          response.statusCode === 201
            ? resolve()
            : reject(new Error(`create: ${response.statusCode} ${text}`)),
        );
      },
    );
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}
