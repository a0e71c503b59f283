import { exitZero as jobExitZero, JOB_TIMEOUT_MS } from '../planner/jobs.js';
import type { Action, Plan } from '../planner/plan-types.js';
import type { Host, Stack } from '../spec/types.js';
import {
  ActionError,
  createAndStart,
  pullImage,
  renameContainer,
  startContainer,
  stopAndRemove,
  unpauseContainer,
  waitHealthy,
} from './containers.js';
import { DockerApiError, HostUnreachableError, StoppedError, stopped } from './errors.js';
import { writeCall, type HostClient } from './host-client.js';
import type { Reach } from './observe.js';
import { reloadProxy, reloadsOnly, writeProxyConfig } from './mesh-file.js';
import { MeshMembers } from './mesh.js';
import { runCommands } from './mesh-socket.js';
import { buildOnHost, copyImage, imageFailure } from './build.js';
import { sleep } from './sleep.js';
import { RolloutGuard, type RolloutResult } from './rollout-guard.js';

export type ApplyEvent =
  | {
      readonly type: 'phase';
      readonly index: number;
      readonly label: string;
      readonly count: number;
      readonly delayBefore: number;
    }
  | { readonly type: 'start'; readonly action: Action }
  | { readonly type: 'done'; readonly action: Action; readonly ms: number }
  | { readonly type: 'failed'; readonly action: Action; readonly ms: number; readonly error: string }
  | { readonly type: 'skipped'; readonly action: Action; readonly why: string }
  | { readonly type: 'rollout'; readonly rollout: RolloutResult }
  /** After the last phase, apply watches the rollout's new containers until `until` (epoch ms). */
  | {
      readonly type: 'monitor';
      readonly service: string;
      readonly monitor: number;
      readonly until: number;
    }
  /** Something went wrong that is no action's failure: a mesh proxy that did not answer. */
  | { readonly type: 'warning'; readonly message: string }
  /** A line of a running action's own output: the builder's, for a build. */
  | { readonly type: 'output'; readonly action: Action; readonly line: string };

export type ActionOutcome =
  | { readonly action: Action; readonly result: 'done'; readonly ms: number }
  | { readonly action: Action; readonly result: 'failed'; readonly ms: number; readonly error: string }
  | { readonly action: Action; readonly result: 'skipped'; readonly why: string };

export type ApplyReport = {
  readonly outcomes: readonly ActionOutcome[];
  /** How each service's rollout ended. */
  readonly rollouts: readonly RolloutResult[];
  readonly ok: boolean;
  readonly ms: number;
};

export type ApplyOptions = {
  readonly reach: (host: Host) => Promise<Reach>;
  /** Actions at once on one host: dockerd is CPU-bound, more only queue. Default 2. */
  readonly perHost?: number;
  readonly onEvent?: (event: ApplyEvent) => void;
  /**
   * Aborted when heal must stop acting: it is shutting down, or its lock was lost. No action starts
   * after it (they are skipped, `why` saying so), a batch delay ends at once, and calls in flight
   * are abandoned (what they did is seen by the next look).
   */
  readonly signal?: AbortSignal;
  /**
   * Whether the host's engine went away (restarted, or stopped answering) after `since`, epoch
   * ms: a new container that stopped then says nothing about its config, and is not counted
   * against its rollout. The daemon knows from its event streams; without it, every stop counts.
   */
  readonly disturbedSince?: (host: string, since: number) => boolean;
};

/**
 * Runs a plan phase by phase. Within a phase, hosts work in parallel, each on at most `perHost`
 * actions at once. A failing host or action does not stop the others: what depends on it is
 * skipped (later actions on a host that proved unreachable, new containers whose image did not
 * pull, later update batches of a rollout its failure_action stopped), everything else runs, and
 * the report lists every outcome and how each rollout ended. It returns once the new containers
 * of its rollouts have lasted update_config.monitor (or one failed), or at once when `signal` aborts.
 */
export async function apply(plan: Plan, stack: Stack, options: ApplyOptions): Promise<ApplyReport> {
  const started = Date.now();
  const emit = options.onEvent ?? (() => undefined);
  const outcomes: ActionOutcome[] = [];
  const deadHosts = new Map<string, string>();
  /** `host\nimage` → whether the registry said the image does not exist (not merely unreachable). */
  const failedPulls = new Map<string, boolean>();
  /** Services whose create or start failed: what waits for their completion is not started. */
  const failedJobs = new Set<string>();
  if (plan.refused) return { outcomes, rollouts: [], ok: false, ms: 0 };
  const guard = new RolloutGuard(
    plan,
    stack,
    options.reach,
    (_service, rollout) => emit({ type: 'rollout', rollout }),
    options.disturbedSince,
  );

  const mesh = new MeshMembers(stack, options.reach, (message) => emit({ type: 'warning', message }));
  let settled = false;
  for (const phase of plan.phases) {
    const actions = plan.actions.filter((action) => action.phase === phase.index);
    const halted = imageFailure(outcomes);
    if (halted) {
      for (const action of actions) outcomes.push(skip(action, halted, emit));
      continue;
    }
    if (!settled && actions.some((action) => action.kind === 'replace')) {
      settled = true;
      await guard.settle();
    }
    await guard.check(options.signal);
    if (options.signal?.aborted) {
      for (const action of actions) outcomes.push(skip(action, stopped(options.signal).message, emit));
      continue;
    }
    // update_config.delay paces batches that run; a batch whose rollout stopped is not waited for.
    const runs = actions.some(
      (action) =>
        !(
          skipReason(action, deadHosts, failedPulls) ??
          moveReason(action, outcomes) ??
          guard.skipReason(action)
        ),
    );
    const delay = runs ? phase.delayBefore : 0;
    emit({
      type: 'phase',
      index: phase.index,
      label: phase.label,
      count: actions.length,
      delayBefore: delay,
    });
    if (delay > 0) await sleep(delay, options.signal).catch(() => undefined);
    const byHost = new Map<string, Action[]>();
    for (const action of actions) byHost.set(action.host, [...(byHost.get(action.host) ?? []), action]);
    await Promise.all(
      [...byHost].map(([hostName, hostActions]) =>
        runBounded(hostActions, options.perHost ?? 2, async (action) => {
          const why =
            (options.signal?.aborted ? stopped(options.signal).message : null) ??
            skipReason(action, deadHosts, failedPulls) ??
            meshImageReason(action, stack, mesh, failedPulls) ??
            moveReason(action, outcomes) ??
            waitsFor(action, stack, failedJobs) ??
            guard.skipReason(action);
          if (why) {
            outcomes.push(skip(action, why, emit));
            // An image its registry does not have fails the rollout as surely as a crash would:
            // failure_action takes it back, and heal goes on healing the config that runs.
            if (imageMissing(action, failedPulls)) await guard.failed(action, why);
            return;
          }
          const { outcome, made, hostLost, notFound } = await runOne(action, stack, options, emit, mesh);
          outcomes.push(outcome);
          if (made) guard.updated(action, made.client, made.id);
          if (outcome.result !== 'failed') return;
          if (action.kind === 'pull') failedPulls.set(`${hostName}\n${action.image}`, notFound === true);
          if ((action.kind === 'create' || action.kind === 'start') && action.service)
            failedJobs.add(action.service);
          // A host that stops answering says nothing about the config being rolled out.
          if (hostLost) deadHosts.set(hostName, outcome.error);
          else await guard.failed(action, outcome.error);
        }),
      ),
    );
  }
  // Members moved one by one above; now every proxy in step with the world, and its file written.
  if (plan.actions.length > 0 && !options.signal?.aborted && hasMesh(plan, mesh))
    await mesh
      .converge()
      .catch((error: unknown) => emit({ type: 'warning', message: `the mesh proxies: ${String(error)}` }));
  // update_config.monitor covers the last batch too: a rollout is done once its last window passed.
  await guard.check(options.signal);
  for (const window of guard.windows()) emit({ type: 'monitor', ...window });
  await guard.watch(options.signal);
  const rollouts = guard.results();
  const ok =
    outcomes.every((outcome) => outcome.result === 'done') &&
    rollouts.every((rollout) => rollout.result === 'done');
  return { outcomes, rollouts, ok, ms: Date.now() - started };
}

/**
 * A proxy whose image could not be pulled on its host is not made (an old one is left running),
 * and neither are the replicas of its service there, nor is any replaced: without a proxy they
 * would take no traffic on that host. What else the plan does goes on.
 */
function meshImageReason(
  action: Action,
  stack: Stack,
  mesh: MeshMembers,
  failedPulls: ReadonlyMap<string, boolean>,
): string | null {
  const image = stack.heal.mesh.image;
  if (!failedPulls.has(`${action.host}\n${image}`)) return null;
  const why = `the mesh image ${image} could not be pulled on ${action.host}${failedPulls.get(`${action.host}\n${image}`) ? ': its registry has no such image (x-heal.mesh.image)' : ''}`;
  if (action.kind === 'create-proxy') return `${why}; the proxy is not made`;
  if ((action.kind === 'create' || action.kind === 'replace') && mesh.service(action.service) !== null)
    return `${why}; ${action.service}'s replicas there wait for its proxy`;
  return null;
}

function skipReason(
  action: Action,
  deadHosts: ReadonlyMap<string, string>,
  failedPulls: ReadonlyMap<string, boolean>,
): string | null {
  if (deadHosts.has(action.host)) return `${action.host} is unreachable`;
  // A new container whose image could not be pulled: the old one is never stopped for it.
  if (
    (action.kind === 'create' || action.kind === 'replace') &&
    failedPulls.has(`${action.host}\n${action.create.body.Image}`)
  ) {
    const image = action.create.body.Image;
    return failedPulls.get(`${action.host}\n${image}`)
      ? `${image} could not be pulled on ${action.host}: its registry has no such image`
      : `${image} could not be pulled on ${action.host}`;
  }
  return null;
}

/**
 * A rebalance move removes the old replica only once its new one runs healthy elsewhere: the
 * service never runs fewer healthy replicas than before the move.
 */
function moveReason(action: Action, outcomes: readonly ActionOutcome[]): string | null {
  if (action.kind !== 'remove' || !action.after) return null;
  const { host, name } = action.after;
  const made = outcomes.find(
    (outcome) =>
      outcome.action.kind === 'create' &&
      outcome.action.host === host &&
      outcome.action.create.query.name === name,
  );
  return made?.result === 'done' ? null : `its replacement ${name} on ${host} is not running healthy`;
}

/** A create or start of a service that waits for a job that did not complete in this apply. */
function waitsFor(action: Action, stack: Stack, failedJobs: ReadonlySet<string>): string | null {
  if ((action.kind !== 'create' && action.kind !== 'start') || failedJobs.size === 0) return null;
  const dependsOn = stack.services[action.service]?.dependsOn ?? {};
  const job = Object.keys(dependsOn)
    .sort()
    .find((name) => dependsOn[name]?.condition === 'service_completed_successfully' && failedJobs.has(name));
  return job ? `${action.service} waits for ${job} to complete successfully, and it did not` : null;
}

function imageMissing(action: Action, failedPulls: ReadonlyMap<string, boolean>): boolean {
  return action.kind === 'replace' && failedPulls.get(`${action.host}\n${action.create.body.Image}`) === true;
}

function skip(action: Action, why: string, emit: (event: ApplyEvent) => void): ActionOutcome {
  emit({ type: 'skipped', action, why });
  return { action, result: 'skipped', why };
}

/** Whether the plan touches the mesh: a proxy, its members, or a replica of a mesh service. */
function hasMesh(plan: Plan, mesh: MeshMembers): boolean {
  return plan.actions.some(
    (action) =>
      action.kind === 'create-proxy' ||
      action.kind === 'mesh-sync' ||
      action.kind === 'remove-proxy' ||
      mesh.service(action.service) !== null,
  );
}

async function runOne(
  action: Action,
  stack: Stack,
  options: ApplyOptions,
  emit: (event: ApplyEvent) => void,
  mesh: MeshMembers,
): Promise<{
  outcome: ActionOutcome;
  made?: { client: HostClient; id: string };
  hostLost?: boolean;
  /** The engine answered 404: for a pull, the registry has no such image. */
  notFound?: boolean;
}> {
  const started = Date.now();
  emit({ type: 'start', action });
  try {
    const host = stack.heal.hosts[action.host];
    if (!host) throw new ActionError(`${action.host} is not a host of the spec`);
    const reached = await options.reach(host);
    if ('error' in reached) throw reached.error;
    const id =
      action.kind === 'build' || action.kind === 'copy-image'
        ? await performImage(reached.client, action, stack, options, (line) =>
            emit({ type: 'output', action, line }),
          )
        : await perform(reached.client, action, stack, options.signal, mesh);
    const ms = Date.now() - started;
    emit({ type: 'done', action, ms });
    return {
      outcome: { action, result: 'done', ms },
      ...(id ? { made: { client: reached.client, id } } : {}),
    };
  } catch (error) {
    const ms = Date.now() - started;
    const message = error instanceof Error ? error.message : String(error);
    // Cut short by heal itself (stopping, or its lock lost): not the action's failure.
    if (error instanceof StoppedError) return { outcome: skip(action, message, emit) };
    emit({ type: 'failed', action, ms, error: message });
    return {
      outcome: { action, result: 'failed', ms, error: message },
      hostLost: error instanceof HostUnreachableError,
      notFound: error instanceof DockerApiError && error.status === 404,
    };
  }
}

/** A build on its host, or a copy from another host's engine to this one's. */
async function performImage(
  client: HostClient,
  action: Extract<Action, { kind: 'build' | 'copy-image' }>,
  stack: Stack,
  options: ApplyOptions,
  onLine: (line: string) => void,
): Promise<void> {
  if (action.kind === 'build') return buildOnHost(client, action, onLine, options.signal);
  const host = stack.heal.hosts[action.from];
  if (!host) throw new ActionError(`${action.from} is not a host of the spec`);
  const from = await options.reach(host);
  if ('error' in from)
    throw new ActionError(`copy ${action.image} from ${action.from}: ${from.error.message}`);
  return copyImage(client, from.client, action, options.signal);
}

/** One action against one engine; for a new container, its id. */
async function perform(
  client: HostClient,
  action: Action,
  stack: Stack,
  signal: AbortSignal | undefined,
  mesh: MeshMembers,
): Promise<string | void> {
  const write = writeCall(signal);
  // A replica of a mesh service: added to every proxy once healthy, drained before it stops.
  const meshService = 'service' in action ? mesh.service(action.service) : null;
  const admit = async (id: string, slot: number): Promise<void> => {
    if (meshService) await mesh.admit(meshService, client, { id, host: action.host, slot });
  };
  const stopReplica = async (
    old: { id: string; name: string; stopTimeout: number },
    slot: number | null,
  ): Promise<void> => {
    const ref = { id: old.id, host: action.host, slot: slot ?? 0 };
    if (meshService) await mesh.drain(meshService, ref);
    await stopAndRemove(client, old, signal);
    if (meshService) await mesh.remove(meshService, ref);
  };
  switch (action.kind) {
    case 'create-proxy':
      if (action.old) await stopAndRemove(client, action.old, signal);
      return void (await createAndStart(client, action.create, stack, action.service, signal));
    case 'remove-proxy':
      return stopAndRemove(client, action.container, signal);
    case 'mesh-sync':
      // No runtime socket on this host: the file is the membership, and a reload applies it.
      if (reloadsOnly(client)) return reloadProxy(client, action.proxy.id, action.config);
      await runCommands(client, action.socket, action.commands, stack.heal.timeouts.readMs);
      return writeProxyConfig(client, action.proxy.id, action.config);
    case 'create-network':
      return client.call(
        `create network ${action.network}`,
        (docker, abortSignal) =>
          docker.createNetwork({ ...action.config, abortSignal } as never).then(
            () => undefined,
            (error: { statusCode?: number }) => {
              // Another heal (or an earlier, interrupted run) made it first: that is what we wanted.
              if (error.statusCode !== 409) throw error;
            },
          ),
        write,
      );
    case 'create-volume':
      return client.call(
        `create volume ${action.volume}`,
        async (docker, abortSignal) =>
          void (await docker.createVolume({ ...action.config, abortSignal } as never)),
        write,
      );
    case 'pull':
      return pullImage(client, action.image, signal);
    case 'build':
    case 'copy-image':
      throw new Error(`internal: ${action.kind} goes through performImage`);
    case 'create': {
      const id = await createAndStart(client, action.create, stack, action.service, signal);
      await admit(id, action.slot);
      return;
    }
    case 'unpause':
      return unpauseContainer(client, action.container.id, action.container.name, signal);
    case 'start': {
      await startContainer(client, action.container.id, action.container.name, signal);
      const service = stack.services[action.service];
      const exitZero = service ? jobExitZero(stack, service) : 'failure';
      const timeout = exitZero === 'awaited' ? JOB_TIMEOUT_MS : 60_000;
      await waitHealthy(client, action.container.id, action.container.name, timeout, signal, exitZero);
      // Restarted, it came back on a new ephemeral port (and maybe address): back into every proxy.
      await admit(action.container.id, action.slot);
      return;
    }
    case 'replace': {
      if (action.order === 'start-first') {
        const id = await createAndStart(client, action.create, stack, action.service, signal);
        await admit(id, action.slot);
        await stopReplica(action.old, action.slot);
        // Plans saved by an older heal have no `rename`.
        if (action.rename) await renameContainer(client, id, action.create.query.name, action.rename, signal);
        return id;
      }
      await stopReplica(action.old, action.slot);
      const id = await createAndStart(client, action.create, stack, action.service, signal);
      await admit(id, action.slot);
      return id;
    }
    case 'remove':
      return stopReplica(action.container, action.slot);
    case 'remove-network':
      return client.call(
        `remove network ${action.network}`,
        (docker, abortSignal) =>
          docker
            .getNetwork(action.network)
            .remove({ abortSignal })
            .catch((error: { statusCode?: number }) => {
              if (error.statusCode !== 404) throw error;
            }),
        write,
      );
    case 'remove-volume':
      return client.call(
        `remove volume ${action.volume}`,
        (docker, abortSignal) =>
          docker
            .getVolume(action.volume)
            .remove({ abortSignal })
            .catch((error: { statusCode?: number }) => {
              if (error.statusCode !== 404) throw error;
            }),
        write,
      );
  }
}

/** Runs `work` over `items`, at most `limit` at a time. */
export async function runBounded<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next]!;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
