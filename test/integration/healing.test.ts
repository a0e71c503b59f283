/**
 * Healing on a real engine, through observe, plan and apply: a replica paused by hand is put
 * back, and a one-off job (a migration) runs once, before the service that waits for it, and is
 * then done, not restarted. The stack is named heal-heal-test and removed from h1 before and after.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apply } from '../../src/executor/apply.js';
import { openFleet, type Fleet } from '../../src/executor/fleet.js';
import { observe } from '../../src/executor/observe.js';
import { plan } from '../../src/planner/plan.js';
import type { Plan } from '../../src/planner/plan-types.js';
import { statusRows } from '../../src/planner/status.js';
import { loadStack } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/types.js';
import { cleanStack } from '../e2e/helpers.js';
import { dockerAt } from '../e2e/watch-helpers.js';
import { testbedEnv, type TestbedEnv } from '../testbed.js';

const STACK = 'heal-heal-test';

let env: TestbedEnv;
let folder: string;
let fleet: Fleet | undefined;

/** Every container, network and volume of the stack on h1 (the tests use h1 only). */
const removeStack = (): Promise<void> => cleanStack(['h1'], STACK);

async function stackOf(services: string[]): Promise<Stack> {
  writeFileSync(
    join(folder, 'stack.yml'),
    [
      `name: ${STACK}`,
      'x-heal:',
      `  hosts: { h1: { docker: "unix://${env.hosts[0]!.socket}" } }`,
      'services:',
      ...services,
      '',
    ].join('\n'),
  );
  const stack = await loadStack({ file: 'stack.yml', cwd: folder, environment: {} });
  await fleet?.close();
  fleet = openFleet(stack);
  return stack;
}

async function planNow(stack: Stack): Promise<Plan> {
  return plan(stack, await observe(stack, fleet!.reach, Date.now), { now: Date.now() });
}

async function applied(stack: Stack, made: Plan): Promise<void> {
  const report = await apply(made, stack, { reach: fleet!.reach });
  expect(report.outcomes.filter((outcome) => outcome.result !== 'done')).toEqual([]);
}

/** `docker inspect -f` of the stack's replica of `service` on h1. */
async function inspect(service: string, format: string): Promise<string> {
  const id = (
    await dockerAt(env, 'h1', [
      'ps',
      '-aq',
      '--filter',
      `label=io.heal.stack=${STACK}`,
      '--filter',
      `label=io.heal.service=${service}`,
    ])
  ).trim();
  return (await dockerAt(env, 'h1', ['inspect', '-f', format, id])).trim();
}

beforeAll(async () => {
  env = await testbedEnv();
  await removeStack();
  folder = mkdtempSync(join(tmpdir(), 'heal-healing-'));
});

afterAll(async () => {
  await fleet?.close();
  if (env) await removeStack();
  if (folder) rmSync(folder, { recursive: true, force: true });
});

describe('healing on a real engine', () => {
  it('unpauses a replica paused by hand, and then plans nothing', async () => {
    const stack = await stackOf(['  web:', `    image: ${env.images.web1}`]);
    await applied(stack, await planNow(stack));
    await dockerAt(env, 'h1', ['pause', await inspect('web', '{{.Name}}')]);
    expect(await inspect('web', '{{.State.Status}}')).toBe('paused');

    const healed = await planNow(stack);
    expect(healed.actions.map((action) => [action.kind, action.reason])).toEqual([
      ['unpause', 'paused by hand; heal runs it'],
    ]);
    await applied(stack, healed);
    expect(await inspect('web', '{{.State.Status}}')).toBe('running');
    expect((await planNow(stack)).actions).toEqual([]);
    await removeStack();
  });

  it('runs a migration job once, before the service that waits for it, and leaves it done', async () => {
    const stack = await stackOf([
      '  migrate:',
      `    image: ${env.images.web1}`,
      '    command: ["sh", "-c", "sleep 2; exit 0"]',
      '    deploy: { restart_policy: { condition: none } }',
      '  web:',
      `    image: ${env.images.web1}`,
      '    depends_on: { migrate: { condition: service_completed_successfully } }',
    ]);
    await applied(stack, await planNow(stack));

    expect(await inspect('migrate', '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 0');
    expect(await inspect('web', '{{.State.Status}}')).toBe('running');
    // web started only once the job had exited.
    const finished = Date.parse(await inspect('migrate', '{{.State.FinishedAt}}'));
    const started = Date.parse(await inspect('web', '{{.State.StartedAt}}'));
    expect(started).toBeGreaterThanOrEqual(finished);

    // Done: not restarted, and status says so.
    const again = await observe(stack, fleet!.reach, Date.now);
    expect(plan(stack, again, { now: Date.now() }).actions).toEqual([]);
    expect(statusRows(stack, again).find((row) => row.service === 'migrate')).toMatchObject({
      running: 0,
      completed: 1,
    });
  });
});
