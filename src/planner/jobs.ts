import type { Service, Stack } from '../spec/types.js';
import type { ObservedContainer, ObservedHost } from './observed.js';
import type { ExitZero, Unplaced } from './plan-types.js';
import type { Intent } from './schedule.js';

/**
 * One-off jobs (a migration): a service whose restart_policy does not restart a container that
 * exits 0 (`condition: none` or `on-failure`). Its replica runs once per config: an exit 0 is
 * done, never restarted and never a failure; a new config runs it again (a rollout replaces it).
 * A service that depends on it with `condition: service_completed_successfully` is created or
 * started only once every slot of the job has exited 0 with its current config, or in the same
 * plan after the job's own create or start, which then waits for the exit.
 */

/** How long a create or start waits for a job that others wait for to exit. */
export const JOB_TIMEOUT_MS = 5 * 60_000;

/** Whether the service's restart_policy leaves a container that exited 0 alone. */
export function isJob(service: Service): boolean {
  return service.deploy.restartPolicy.condition !== 'any';
}

/** What an exit 0 right after a start means for the service's new replicas. */
export function exitZero(stack: Stack, service: Service): ExitZero {
  if (!isJob(service)) return 'failure';
  const awaited = Object.values(stack.services).some(
    (other) => other.dependsOn[service.name]?.condition === 'service_completed_successfully',
  );
  return awaited ? 'awaited' : 'done';
}

/** A replica of the job that finished: exited 0 with the config the spec gives it now. */
export function completed(service: Service, container: ObservedContainer): boolean {
  return (
    isJob(service) &&
    container.state === 'exited' &&
    container.exitCode === 0 &&
    container.configHash === service.configHash
  );
}

/**
 * Takes out the creates and starts of services that wait for a job not done yet (and not run by
 * this plan before them): their slots are reported unplaced, with the job they wait for, so the
 * daemon waits (the job's exit is an event that makes it look again). The rest of the plan stands.
 */
export function holdDependents(
  stack: Stack,
  hosts: readonly ObservedHost[],
  intents: readonly Intent[],
): { intents: Intent[]; unplaced: Unplaced[] } {
  const containers = hosts.flatMap((host) => host.containers);
  const waiting = new Map<string, string[]>();
  for (const service of Object.values(stack.services)) {
    const jobs = Object.entries(service.dependsOn)
      .filter(
        ([name, dependency]) =>
          dependency.condition === 'service_completed_successfully' && stack.services[name],
      )
      .map(([name]) => stack.services[name]!)
      .filter((job) => !done(job, containers) && !runsFirst(job, intents));
    if (jobs.length > 0) waiting.set(service.name, jobs.map((job) => job.name).sort());
  }
  const kept: Intent[] = [];
  const unplaced: Unplaced[] = [];
  for (const intent of intents) {
    const jobs =
      intent.kind === 'create' || intent.kind === 'start' ? waiting.get(intent.service.name) : undefined;
    if (jobs === undefined || (intent.kind !== 'create' && intent.kind !== 'start')) {
      kept.push(intent);
      continue;
    }
    unplaced.push({
      service: intent.service.name,
      slot: intent.slot,
      reason: `waits for ${jobs.join(', ')} to complete successfully (depends_on: service_completed_successfully)`,
    });
  }
  return { intents: kept, unplaced };
}

/** Every slot of the job has a replica that finished with its current config. */
function done(job: Service, containers: readonly ObservedContainer[]): boolean {
  const mine = containers.filter((container) => container.service === job.name);
  const slots =
    job.deploy.mode === 'global'
      ? [...new Set(mine.map((container) => container.slot))]
      : Array.from({ length: job.deploy.replicas }, (_, index) => index + 1);
  return (
    slots.length > 0 &&
    slots.every((slot) => mine.some((container) => container.slot === slot && completed(job, container)))
  );
}

/**
 * Each slot of the job not done is created or started by this plan, in a phase before its
 * dependents' (depends_on levels), and that action waits for the job's exit.
 */
function runsFirst(job: Service, intents: readonly Intent[]): boolean {
  const runs = intents.filter(
    (intent) => (intent.kind === 'create' || intent.kind === 'start') && intent.service.name === job.name,
  );
  if (runs.length === 0 || !isJob(job)) return false;
  return intents.every(
    (intent) =>
      intent.service?.name !== job.name ||
      intent.kind === 'create' ||
      intent.kind === 'start' ||
      (intent.kind === 'unchanged' && completed(job, intent.container)),
  );
}
