import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import type { Fleet } from '../executor/fleet.js';
import { observe } from '../executor/observe.js';
import type { Observed } from '../planner/observed.js';
import { plan } from '../planner/plan.js';
import type { Plan } from '../planner/plan-types.js';
import { keyedStack } from '../planner/stack-key.js';
import { canonicalJson } from '../spec/hash.js';
import { newStackKey } from '../spec/keyed-hash.js';
import type { Stack } from '../spec/types.js';

export type PlanCliOptions = { allowEmpty?: boolean; pruneVolumes?: boolean };

export function withPlanOptions(command: Command): Command {
  return command
    .option('--allow-empty', 'allow a plan that removes every container of the stack')
    .option('--prune-volumes', "remove the stack's named volumes no service uses (their data is lost)");
}

/** Observes the hosts and plans; every unreachable host counts as down for a one-shot command. */
export async function observeAndPlan(
  stack: Stack,
  fleet: Fleet,
  options: PlanCliOptions,
): Promise<{ plan: Plan; observed: Observed; fingerprint: string }> {
  const observed = await observe(stack, fleet.reach, Date.now);
  const made = plan(stack, observed, {
    now: Date.now(),
    allowEmpty: options.allowEmpty === true,
    pruneVolumes: options.pruneVolumes === true,
    freshStackKey: newStackKey(),
  });
  return { plan: made, observed, fingerprint: fingerprint(stack, observed) };
}

/**
 * What a saved plan was made from: every service's config hash (keyed by the key the hosts hold,
 * so a changed secret counts) and replicas, and what each host reported (reachability, each
 * container's id, config and state, its networks, volumes and stack key). A saved plan whose
 * fingerprint no longer matches is stale.
 */
export function fingerprint(spec: Stack, observed: Observed): string {
  const { stack } = keyedStack(spec, observed);
  const desired = Object.values(stack.services).map((service) => [
    service.name,
    service.configHash,
    service.deploy.mode,
    service.deploy.replicas,
  ]);
  const hosts = observed.hosts.map((host) => [
    host.name,
    host.reachable,
    host.containers.map((container) => [container.id, container.configHash, container.state]).sort(),
    host.networks,
    host.volumes,
    host.stackKeys.map((volume) => volume.name).sort(),
  ]);
  return `sha256:${createHash('sha256').update(canonicalJson({ desired, hosts })).digest('hex')}`;
}

/** A plan written by `heal plan -o FILE` for `heal apply FILE`. */
export type SavedPlan = {
  readonly version: 1;
  readonly spec: string;
  readonly fingerprint: string;
  readonly createdAt: string;
  readonly plan: Plan;
};
