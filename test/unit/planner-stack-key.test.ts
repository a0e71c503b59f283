import { describe, expect, it } from 'vitest';
import { LABEL } from '../../src/planner/labels.js';
import type { Observed, StackKeyVolume } from '../../src/planner/observed.js';
import { plan } from '../../src/planner/plan.js';
import type { Action, Plan } from '../../src/planner/plan-types.js';
import { keyVolumeName } from '../../src/planner/stack-key.js';
import { statusRows } from '../../src/planner/status.js';
import { keyedConfigHash } from '../../src/spec/keyed-hash.js';
import type { Stack } from '../../src/spec/types.js';
import { brief, changes, stackOf, T0, T1, T2 } from './plan-helpers.js';
import { applyPlan, emptyWorld, ownedContainer, withContainers, withHost } from './simulate.js';

/** `web` has an env_file secret, `files` a file secret; `plain` has none. */
const SPEC = `
services:
  web:
    image: nginx:1
    env_file: web.env
    deploy: { replicas: 2 }
  files:
    image: nginx:1
    secrets: [token]
  plain:
    image: redis
secrets:
  token: { file: token.txt }
`;

const PLAIN = `
services:
  plain:
    image: redis
    deploy: { replicas: 3 }
`;

const K1 = '1a'.repeat(32);
const K2 = '2b'.repeat(32);
const FRESH = 'fe'.repeat(32);

function secretStack(password = 'summer2024', token = 'tok-1'): Promise<Stack> {
  return stackOf(SPEC, { 'web.env': `DB_PASSWORD=${password}\n`, 'token.txt': token });
}

function keyVolume(key: string): StackKeyVolume {
  return { name: keyVolumeName('app', key), key };
}

/** `world` with each named host holding `keys`. */
function holding(world: Observed, hosts: Readonly<Record<string, readonly StackKeyVolume[]>>): Observed {
  let out = world;
  for (const [host, keys] of Object.entries(hosts)) out = withHost(out, host, { stackKeys: keys });
  return out;
}

/** The stack key volumes a plan creates or removes, in brief. */
function keyActions(made: Plan): string[] {
  return brief(made).filter((line) => line.includes('_heal-key_'));
}

function createdHashes(made: Plan): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const action of made.actions)
    if (action.kind === 'create' || action.kind === 'replace')
      (out[action.service] ??= []).push(action.create.body.Labels[LABEL.configHash]!);
  return out;
}

describe('plan: the stack key', () => {
  it('gives every usable host the fresh key first when none holds one, and hashes secrets by it', async () => {
    const stack = await secretStack();
    const made = plan(stack, emptyWorld(stack, ['h3']), { now: T0, freshStackKey: FRESH });
    const name = keyVolumeName('app', FRESH);
    expect(name).toMatch(/^app_heal-key_[0-9a-f]{12}$/);
    expect(keyActions(made)).toEqual([`0 create-volume h1 ${name}`, `0 create-volume h2 ${name}`]);
    const create = made.actions.find((action) => action.kind === 'create-volume') as Extract<
      Action,
      { kind: 'create-volume' }
    >;
    expect(create.config).toEqual({ Name: name, Labels: { [LABEL.stack]: 'app', [LABEL.key]: FRESH } });
    expect(create.reason).toBe('the stack key: the config hash of files, web (secrets) is keyed by it');
    expect(createdHashes(made)).toEqual({
      files: [keyedConfigHash(stack.services.files!, stack, FRESH)],
      plain: [stack.services.plain!.configHash],
      web: Array(2).fill(keyedConfigHash(stack.services.web!, stack, FRESH)),
    });
    expect(createdHashes(made).web![0]).toMatch(/^v2:/);
    expect(createdHashes(made).plain![0]).toMatch(/^v1:/);
  });

  it('prints the plan with the key as **secret**: it never leaves the action that gives it', async () => {
    const stack = await secretStack();
    const made = plan(stack, emptyWorld(stack), { now: T0, freshStackKey: FRESH });
    const printed = JSON.stringify(made);
    expect(printed).not.toContain(FRESH);
    expect(printed.match(/"io\.heal\.key":"\*\*secret\*\*"/g)).toHaveLength(3);
    const parsed = JSON.parse(printed) as Plan;
    expect(parsed.actions.map((action) => action.kind)).toEqual(made.actions.map((action) => action.kind));
  });

  it('reuses the key a host holds, gives it to the hosts without it, and leaves the fresh one unused', async () => {
    const stack = await secretStack();
    const made = plan(stack, holding(emptyWorld(stack), { h2: [keyVolume(K1)] }), {
      now: T0,
      freshStackKey: FRESH,
    });
    const name = keyVolumeName('app', K1);
    expect(keyActions(made)).toEqual([`0 create-volume h1 ${name}`, `0 create-volume h3 ${name}`]);
    expect(createdHashes(made).web).toEqual(Array(2).fill(keyedConfigHash(stack.services.web!, stack, K1)));
    expect(
      made.actions.some(
        (action) => action.kind === 'create-volume' && action.config.Labels[LABEL.key] === FRESH,
      ),
    ).toBe(false);
  });

  it('converges: once applied, the next plan is empty and no replica is dirty', async () => {
    const stack = await secretStack();
    const first = plan(stack, emptyWorld(stack), { now: T0, freshStackKey: FRESH });
    const world = applyPlan(emptyWorld(stack), first, T0);
    expect(world.hosts.map((host) => host.stackKeys)).toEqual(Array(3).fill([keyVolume(FRESH)]));
    // Another fresh key, as the next run of heal makes: the hosts' key wins.
    expect(plan(stack, world, { now: T1, freshStackKey: K2 }).actions).toEqual([]);
    expect(statusRows(stack, world).map((row) => [row.service, row.running, row.dirty])).toEqual([
      ['files', 1, 0],
      ['plain', 1, 0],
      ['web', 2, 0],
    ]);
  });

  it('replaces the replicas of a service whose env_file value or secret file changed, and no other', async () => {
    const before = await secretStack();
    const world = applyPlan(
      emptyWorld(before),
      plan(before, emptyWorld(before), { now: T0, freshStackKey: K1 }),
      T0,
    );
    const password = plan(await secretStack('autumn2024'), world, { now: T1, freshStackKey: FRESH });
    expect(changes(password)).toEqual([
      '0 replace h3 web/1 app-web-1 -> app-web-1 stop-first',
      '1 replace h1 web/2 app-web-2 -> app-web-2 stop-first',
    ]);
    expect(password.actions.find((action) => action.kind === 'replace')!.reason).toBe(
      'config changed: secret or config content',
    );
    const token = plan(await secretStack('summer2024', 'tok-2'), world, { now: T1, freshStackKey: FRESH });
    expect(changes(token)).toEqual(['0 replace h1 files/1 app-files-1 -> app-files-1 stop-first']);
    expect(keyActions(password)).toEqual([]);
  });

  it('changes nothing for a stack without secrets: no key, and the same plan with or without one', async () => {
    const stack = await stackOf(PLAIN);
    const without = plan(stack, emptyWorld(stack), { now: T0 });
    const withKey = plan(stack, emptyWorld(stack), { now: T0, freshStackKey: FRESH });
    expect(withKey).toEqual(without);
    expect(JSON.stringify(withKey)).toBe(JSON.stringify(without));
    expect(keyActions(without)).toEqual([]);
    // A key a host still holds from a service that had secrets stays, and changes nothing.
    const kept = holding(applyPlan(emptyWorld(stack), without, T0), { h1: [keyVolume(K1)] });
    expect(plan(stack, kept, { now: T1, freshStackKey: FRESH }).actions).toEqual([]);
  });

  it('converges hosts that disagree on the key most of them hold, replacing what the other key hashed', async () => {
    const stack = await secretStack();
    const world = withContainers(
      holding(emptyWorld(stack), { h1: [keyVolume(K1)], h2: [keyVolume(K2)], h3: [keyVolume(K2)] }),
      [
        ownedContainer(stack, {
          host: 'h1',
          service: 'web',
          slot: 1,
          configHash: keyedConfigHash(stack.services.web!, stack, K1),
        }),
        ownedContainer(stack, {
          host: 'h2',
          service: 'web',
          slot: 2,
          configHash: keyedConfigHash(stack.services.web!, stack, K2),
        }),
      ],
    );
    const made = plan(stack, world, { now: T1, freshStackKey: FRESH });
    expect(keyActions(made)).toEqual([
      `0 create-volume h1 ${keyVolumeName('app', K2)}`,
      `3 remove-volume h1 ${keyVolumeName('app', K1)}`,
    ]);
    expect(made.actions.find((action) => action.kind === 'remove-volume')!.reason).toBe(
      `the stack key in force is ${keyVolumeName('app', K2)}`,
    );
    expect(changes(made).filter((line) => line.includes('web/'))).toEqual([
      '2 replace h1 web/1 app-web-1 -> app-web-1 stop-first',
    ]);
    const after = applyPlan(world, made, T1);
    expect(after.hosts.map((host) => host.stackKeys)).toEqual(Array(3).fill([keyVolume(K2)]));
    expect(plan(stack, after, { now: T2, freshStackKey: FRESH }).actions).toEqual([]);
  });

  it('removes a key volume whose label holds no key, and gives that host the key', async () => {
    const stack = await secretStack();
    const broken = { name: 'app_heal-key_broken', key: null };
    const made = plan(stack, holding(emptyWorld(stack), { h1: [broken], h2: [keyVolume(K1)] }), {
      now: T0,
      freshStackKey: FRESH,
    });
    expect(keyActions(made).filter((line) => line.includes(' h1 '))).toEqual([
      `0 create-volume h1 ${keyVolumeName('app', K1)}`,
      '2 remove-volume h1 app_heal-key_broken',
    ]);
  });

  it('goes with the named volumes (heal down --volumes), and stays through --prune-volumes', async () => {
    const stack = await secretStack();
    const world = holding(emptyWorld(stack), {
      h1: [keyVolume(K1)],
      h2: [keyVolume(K1)],
      h3: [keyVolume(K1)],
    });
    const down = (pruneVolumes: boolean): string[] =>
      keyActions(plan({ ...stack, services: {} }, world, { now: T1, allowEmpty: true, pruneVolumes }));
    expect(down(false)).toEqual([]);
    expect(down(true)).toEqual(
      ['h1', 'h2', 'h3'].map((host) => `0 remove-volume ${host} ${keyVolumeName('app', K1)}`),
    );
    expect(keyActions(plan(stack, world, { now: T1, pruneVolumes: true, freshStackKey: FRESH }))).toEqual([]);
  });

  it('rolls a service with secrets back to the keyed config its containers recorded', async () => {
    const v1 = await secretStack();
    const v2 = await stackOf(SPEC.replace('image: nginx:1\n    env_file', 'image: nginx:2\n    env_file'), {
      'web.env': 'DB_PASSWORD=summer2024\n',
      'token.txt': 'tok-1',
    });
    const options = { freshStackKey: FRESH };
    const deployedV1 = applyPlan(emptyWorld(v1), plan(v1, emptyWorld(v1), { ...options, now: T0 }), T0);
    const updated = applyPlan(deployedV1, plan(v2, deployedV1, { ...options, now: T1 }), T1);
    const key = updated.hosts[0]!.stackKeys[0]!.key!;
    const failed = keyedConfigHash(v2.services.web!, v2, key);
    const marked = withHost(updated, 'h1', {
      marks: [
        {
          name: 'app_heal-rolled-back_web_x',
          host: 'h1',
          service: 'web',
          configHash: failed,
          state: 'rolled-back',
          reason: 'failed',
        },
      ],
    });
    const back = plan(v2, marked, { ...options, now: T2 });
    expect(back.rollouts.map((rollout) => [rollout.kind, rollout.to, rollout.slots])).toEqual([
      ['rollback', keyedConfigHash(v1.services.web!, v1, key), 2],
    ]);
    const replace = back.actions.find((action) => action.kind === 'replace')!;
    expect(replace.kind === 'replace' && replace.create.body.Env).toContain('DB_PASSWORD=**secret**');
    expect(replace.kind === 'replace' && replace.create.secretEnv).toEqual(['DB_PASSWORD']);
    expect(plan(v2, applyPlan(marked, back, T2), { ...options, now: T2 + 1 }).actions).toEqual([]);
  });

  it('throws when a service has secrets and no host holds the key nor was one given: a caller bug', async () => {
    const stack = await secretStack();
    expect(() => plan(stack, emptyWorld(stack), { now: T0 })).toThrow(
      'plan: the stack has secrets and no host holds its key: pass options.freshStackKey',
    );
    expect(() => plan(stack, emptyWorld(stack), { now: T0, freshStackKey: 'not-a-key' })).toThrow();
  });
});
