import type { Service, Stack } from '../spec/types.js';
import { planBuilds, type ImageDraft } from './builds.js';
import { neededNetworks, neededVolumes, networkCreate, volumeCreate } from './engine-objects.js';
import { LABEL } from './labels.js';
import type { ObservedContainer, ObservedHost, RolloutMark, ScaleMark } from './observed.js';
import type { HostLoad } from './placement.js';
import type { KeyVolumes } from './stack-key.js';
import type { MeshDraft, MeshStage } from './mesh.js';
import type { Action, CreateSpec, Phase, Plan, Rollout, ServiceSummary, Unplaced } from './plan-types.js';

/** What the planner decided for one slot, before it is ordered into phases. */
export type Intent =
  | {
      readonly kind: 'create';
      readonly service: Service;
      readonly slot: number;
      readonly create: CreateSpec;
      readonly reason: string;
    }
  | {
      readonly kind: 'start' | 'unpause';
      readonly service: Service;
      readonly slot: number;
      readonly container: ObservedContainer;
      readonly reason: string;
    }
  | {
      readonly kind: 'replace';
      readonly service: Service;
      readonly slot: number;
      readonly container: ObservedContainer;
      readonly order: 'stop-first' | 'start-first';
      readonly create: CreateSpec;
      readonly rename: string | null;
      readonly reason: string;
    }
  | {
      readonly kind: 'remove';
      readonly service: Service | null;
      readonly container: ObservedContainer;
      readonly reason: string;
      /** Removed only once this new container on another host runs healthy (a rebalance move). */
      readonly after?: { readonly host: string; readonly name: string };
    }
  | {
      readonly kind: 'unchanged';
      readonly service: Service;
      readonly container: ObservedContainer;
      readonly note: string | null;
    };

export type ScheduleInput = {
  readonly stack: Stack;
  readonly usable: readonly ObservedHost[];
  readonly loads: ReadonlyMap<string, HostLoad>;
  readonly intents: readonly Intent[];
  readonly unplaced: readonly Unplaced[];
  readonly warnings: readonly string[];
  readonly pruneVolumes: boolean;
  readonly waitUntil: number | null;
  readonly held: readonly RolloutMark[];
  readonly rollingBack: ReadonlySet<string>;
  /** Marks of configs the spec has moved past: removed in the clean-up. */
  readonly staleMarks: readonly RolloutMark[];
  /** Scale marks of services the spec no longer autoscales (`autoscale.ts`): removed in the clean-up. */
  readonly staleScales?: readonly ScaleMark[];
  /** The stack key given to hosts that lack it (prepare), and other key volumes (clean-up). */
  readonly stackKeys: KeyVolumes;
  /** The routing mesh's proxies and member changes (mesh.ts). */
  readonly mesh?: readonly MeshDraft[];
};

type Draft = Action & { readonly stage: Stage };
type Stage = { readonly order: number; readonly label: string; readonly delayBefore: number };

const PREPARE: Stage = { order: 0, label: 'prepare', delayBefore: 0 };

/**
 * Orders the intents into phases: prepare (networks, volumes, pulls); create and start, one phase
 * per depends_on level; replacements in batches of update_config.parallelism with its delay
 * between batches; removals; clean-up of networks (and volumes, when asked).
 */
export function schedule(input: ScheduleInput): Plan {
  const { stack, intents } = input;
  const levels = dependencyLevels(stack);
  const maxLevel = Math.max(0, ...levels.values());
  const createStage = (service: Service): Stage => ({
    order: 1 + (levels.get(service.name) ?? 0),
    label: 'create',
    delayBefore: 0,
  });
  const batchBase = maxLevel + 2;
  const drafts: Draft[] = [];

  const batches = replaceBatches(intents);
  const lastBatch = Math.max(-1, ...[...batches.values()].map((batch) => batch.index));
  const batchCount = lastBatch + 1;
  const removeStage: Stage = { order: batchBase + lastBatch + 1, label: 'remove', delayBefore: 0 };
  const cleanStage: Stage = { order: removeStage.order + 1, label: 'clean up', delayBefore: 0 };

  for (const intent of intents) {
    const slot = 'slot' in intent ? intent.slot : (intent.container.slot ?? null);
    switch (intent.kind) {
      case 'create':
        drafts.push({
          kind: 'create',
          phase: 0,
          stage: createStage(intent.service),
          host: intent.create.host,
          service: intent.service.name,
          slot: intent.slot,
          create: intent.create,
          reason: intent.reason,
        });
        break;
      case 'start':
      case 'unpause':
        drafts.push({
          kind: intent.kind,
          phase: 0,
          stage: createStage(intent.service),
          host: intent.container.host,
          service: intent.service.name,
          slot: intent.slot,
          container: ref(intent.container),
          reason: intent.reason,
        });
        break;
      case 'replace': {
        const batch = batches.get(intent)!;
        drafts.push({
          kind: 'replace',
          phase: 0,
          stage: {
            order: batchBase + batch.index,
            label: `update batch ${batch.index + 1} of ${batchCount}`,
            delayBefore: batch.index > 0 ? intent.service.deploy.updateConfig.delay : 0,
          },
          host: intent.create.host,
          service: intent.service.name,
          slot: intent.slot,
          old: stoppable(intent.container, intent.service),
          create: intent.create,
          order: intent.order,
          rename: intent.rename,
          update: intent.container.configHash !== intent.service.configHash,
          change: {
            from: intent.container.labels[LABEL.spec] ?? null,
            to: intent.create.body.Labels[LABEL.spec] ?? '',
          },
          reason: intent.reason,
        });
        break;
      }
      case 'remove':
        drafts.push({
          kind: 'remove',
          phase: 0,
          stage: removeStage,
          host: intent.container.host,
          service: intent.container.service,
          slot,
          container: stoppable(intent.container, intent.service),
          reason: intent.reason,
          ...(intent.after ? { after: intent.after } : {}),
        });
        break;
      case 'unchanged':
        break;
    }
  }

  const meshStages: Record<MeshStage, Stage> = {
    // After the networks and pulls, before any replica starts: a new replica is added to every proxy.
    proxies: { order: 0.5, label: 'mesh proxies', delayBefore: 0 },
    members: { order: 0.6, label: 'mesh members', delayBefore: 0 },
    // Before any replica is made: the port a proxy leaves may be one a replica now binds itself.
    'early-remove-proxies': { order: 0.4, label: 'mesh proxies', delayBefore: 0 },
    // Once the replacements and removals have freed the ports a proxy publishes.
    'late-proxies': { order: removeStage.order + 0.25, label: 'mesh proxies', delayBefore: 0 },
    'remove-proxies': { order: removeStage.order + 0.5, label: 'remove', delayBefore: 0 },
  };
  for (const draft of input.mesh ?? [])
    drafts.push({ ...draft.action, stage: meshStages[draft.stage] } as Draft);

  const imageWarnings: string[] = [];
  drafts.push(
    ...prepare(input, drafts, imageWarnings),
    ...keyDrafts(input.stackKeys, cleanStage),
    ...cleanUp(input, cleanStage),
  );
  return finish({ ...input, warnings: [...input.warnings, ...imageWarnings] }, drafts, batches);
}

/** The stack key first, before any container hashed by it; other key volumes go last. */
function keyDrafts(keys: KeyVolumes, clean: Stage): Draft[] {
  const stackWide = { phase: 0, service: null, slot: null } as const;
  return [
    ...keys.create.map((item): Draft => ({ ...stackWide, kind: 'create-volume', stage: PREPARE, ...item })),
    ...keys.remove.map((item): Draft => ({ ...stackWide, kind: 'remove-volume', stage: clean, ...item })),
  ];
}

/** Each service's replacements, by slot, cut into batches of its parallelism (0: one batch). */
function replaceBatches(intents: readonly Intent[]): Map<Intent, { index: number }> {
  const byService = new Map<string, Intent[]>();
  for (const intent of intents) {
    if (intent.kind !== 'replace') continue;
    byService.set(intent.service.name, [...(byService.get(intent.service.name) ?? []), intent]);
  }
  const out = new Map<Intent, { index: number }>();
  for (const list of byService.values()) {
    const sorted = [...list].sort((a, b) => ('slot' in a && 'slot' in b ? a.slot - b.slot : 0));
    const size =
      sorted[0]!.kind === 'replace'
        ? sorted[0]!.service.deploy.updateConfig.parallelism || sorted.length
        : sorted.length;
    sorted.forEach((intent, index) => out.set(intent, { index: Math.floor(index / size) }));
  }
  return out;
}

/** Where each service's replicas will run once the plan is applied. */
function placements(intents: readonly Intent[]): Map<string, Set<Service>> {
  const out = new Map<string, Set<Service>>();
  const add = (host: string, service: Service): void =>
    void out.set(host, (out.get(host) ?? new Set()).add(service));
  for (const intent of intents) {
    if (intent.kind === 'create' || intent.kind === 'replace') add(intent.create.host, intent.service);
    if (intent.kind === 'start' || intent.kind === 'unpause' || intent.kind === 'unchanged')
      add(intent.container.host, intent.service);
  }
  return out;
}

/** Where replicas run, and every mesh service's proxy on the hosts the plan gives one. */
function placedWithProxies(input: ScheduleInput): Map<string, Set<Service>> {
  const placed = placements(input.intents);
  for (const draft of input.mesh ?? []) {
    if (draft.action.kind !== 'create-proxy' && draft.action.kind !== 'mesh-sync') continue;
    const service = input.stack.services[draft.action.service];
    if (service) placed.set(draft.action.host, (placed.get(draft.action.host) ?? new Set()).add(service));
  }
  // A proxy kept as it is holds its networks too.
  for (const host of input.usable)
    for (const container of host.containers) {
      const service = container.service === null ? undefined : input.stack.services[container.service];
      if (
        service &&
        container.labels[LABEL.role] !== undefined &&
        (input.mesh ?? []).every(
          (draft) => draft.action.kind !== 'remove-proxy' || draft.action.container.id !== container.id,
        )
      )
        placed.set(host.name, (placed.get(host.name) ?? new Set()).add(service));
    }
  return placed;
}

/** Before prepare: images built, then copied to the hosts that lack them (builds.ts). */
const IMAGE_STAGES: Readonly<Record<ImageDraft['stage'], Stage>> = {
  build: { order: -0.2, label: 'build', delayBefore: 0 },
  copy: { order: -0.1, label: 'copy images', delayBefore: 0 },
  pull: PREPARE,
};

function prepare(input: ScheduleInput, drafts: readonly Draft[], warnings: string[]): Draft[] {
  const { stack } = input;
  const out: Draft[] = [];
  const placed = placedWithProxies(input);
  // A proxy mounts none of its service's volumes: they are needed where replicas run only.
  const replicas = placements(input.intents);
  for (const host of input.usable) {
    const services = [...(placed.get(host.name) ?? [])];
    const mounting = [...(replicas.get(host.name) ?? [])];
    for (const name of neededNetworks(stack, services)) {
      const network = stack.networks[name]!;
      if (host.networks.includes(network.engineName)) continue;
      out.push({
        kind: 'create-network',
        phase: 0,
        stage: PREPARE,
        host: host.name,
        service: null,
        slot: null,
        network: network.engineName,
        config: networkCreate(stack, name),
        reason: `needed by ${servicesUsing(services, (service) => service.networks.some((item) => item.name === name))}`,
      });
    }
    for (const name of neededVolumes(stack, mounting)) {
      const volume = stack.volumes[name]!;
      if (host.volumes.includes(volume.engineName)) continue;
      out.push({
        kind: 'create-volume',
        phase: 0,
        stage: PREPARE,
        host: host.name,
        service: null,
        slot: null,
        volume: volume.engineName,
        config: volumeCreate(stack, name),
        reason: `mounted by ${servicesUsing(mounting, (service) => service.volumes.some((mount) => mount.type === 'volume' && mount.source === name))}`,
      });
    }
  }
  const builtNeeds = new Map<Service, Set<string>>();
  const pulled = new Set<string>();
  const pull = (host: string, image: string, reason: string): void => {
    pulled.add(`${host}\n${image}`);
    out.push({ kind: 'pull', phase: 0, stage: PREPARE, host, service: null, slot: null, image, reason });
  };
  for (const draft of drafts) {
    if (draft.kind === 'create-proxy') {
      const image = draft.create.body.Image;
      const host = input.usable.find((item) => item.name === draft.host)!;
      if (pulled.has(`${draft.host}\n${image}`) || hasImage(host, image)) continue;
      pull(draft.host, image, `${image} (the mesh proxy) is not on ${draft.host}`);
      continue;
    }
    if (draft.kind !== 'create' && draft.kind !== 'replace') continue;
    const service = stack.services[draft.service]!;
    if (service.build !== null) {
      builtNeeds.set(service, (builtNeeds.get(service) ?? new Set()).add(draft.host));
      continue;
    }
    if (pulled.has(`${draft.host}\n${service.image}`) || service.pullPolicy === 'never') continue;
    const host = input.usable.find((item) => item.name === draft.host)!;
    if (service.pullPolicy === 'missing' && hasImage(host, service.image)) continue;
    pull(
      draft.host,
      service.image,
      service.pullPolicy === 'always' ? 'pull_policy: always' : `${service.image} is not on ${draft.host}`,
    );
  }
  const images = planBuilds(stack, input.usable, builtNeeds);
  warnings.push(...images.warnings);
  for (const { action, stage } of images.drafts) out.push({ ...action, stage: IMAGE_STAGES[stage] } as Draft);
  return out;
}

function cleanUp(input: ScheduleInput, stage: Stage): Draft[] {
  const { stack } = input;
  const out: Draft[] = input.staleMarks.map((mark) => ({
    kind: 'remove-volume',
    phase: 0,
    stage,
    host: mark.host,
    service: null,
    slot: null,
    volume: mark.name,
    reason: `the spec has moved on from ${mark.service}'s ${mark.state} config`,
  }));
  for (const mark of input.staleScales ?? [])
    out.push({
      kind: 'remove-volume',
      phase: 0,
      stage,
      host: mark.host,
      service: null,
      slot: null,
      volume: mark.name,
      reason: `${mark.service} is not autoscaled any more: its recorded count of ${mark.replicas} goes`,
    });
  const placed = placedWithProxies(input);
  const replicas = placements(input.intents);
  for (const host of input.usable) {
    const services = [...(placed.get(host.name) ?? [])];
    const networks = new Set(
      [...neededNetworks(stack, services)].map((name) => stack.networks[name]!.engineName),
    );
    for (const network of host.networks) {
      if (!networks.has(network))
        out.push({
          kind: 'remove-network',
          phase: 0,
          stage,
          host: host.name,
          service: null,
          slot: null,
          network,
          reason: 'no container of the stack uses it here',
        });
    }
    if (!input.pruneVolumes) continue;
    const volumes = new Set(
      [...neededVolumes(stack, [...(replicas.get(host.name) ?? [])])].map(
        (name) => stack.volumes[name]!.engineName,
      ),
    );
    for (const volume of host.volumes) {
      if (!volumes.has(volume))
        out.push({
          kind: 'remove-volume',
          phase: 0,
          stage,
          host: host.name,
          service: null,
          slot: null,
          volume,
          reason: 'unused, and --prune-volumes',
        });
    }
  }
  return out;
}

function servicesUsing(services: readonly Service[], uses: (service: Service) => boolean): string {
  return services
    .filter(uses)
    .map((service) => service.name)
    .sort()
    .join(', ');
}

function hasImage(host: ObservedHost, image: string): boolean {
  const reference = /[@]|:[^/]*$/.test(image) ? image : `${image}:latest`;
  return host.images.includes(reference) || host.images.includes(image);
}

function ref(container: ObservedContainer): { id: string; name: string; host: string } {
  return { id: container.id, name: container.name, host: container.host };
}

function stoppable(
  container: ObservedContainer,
  service: Service | null,
): { id: string; name: string; host: string; stopTimeout: number; stopSignal: string | null } {
  return {
    ...ref(container),
    stopTimeout: Math.ceil((service?.stopGracePeriod ?? 10_000) / 1000),
    stopSignal: service?.stopSignal ?? null,
  };
}

/** depends_on depth of each service: 0 for one that depends on nothing in the spec. */
function dependencyLevels(stack: Stack): Map<string, number> {
  const levels = new Map<string, number>();
  const level = (name: string, trail: ReadonlySet<string>): number => {
    const known = levels.get(name);
    if (known !== undefined) return known;
    const deps = Object.keys(stack.services[name]?.dependsOn ?? {}).filter(
      (dep) => stack.services[dep] && !trail.has(dep),
    );
    const value =
      deps.length === 0 ? 0 : 1 + Math.max(...deps.map((dep) => level(dep, new Set([...trail, name]))));
    levels.set(name, value);
    return value;
  };
  for (const name of Object.keys(stack.services)) level(name, new Set());
  return levels;
}

/** Numbers the phases that have actions, orders the actions, and counts per service. */
function finish(
  input: ScheduleInput,
  drafts: readonly Draft[],
  batches: ReadonlyMap<Intent, { index: number }>,
): Plan {
  const stages = [...new Map(drafts.map((draft) => [draft.stage.order, draft.stage])).values()].sort(
    (a, b) => a.order - b.order,
  );
  const phaseOf = new Map(stages.map((stage, index) => [stage.order, index]));
  const phases: Phase[] = stages.map((stage, index) => ({
    index,
    label: stage.label,
    delayBefore: stage.delayBefore,
  }));
  const actions = drafts
    .map(({ stage, ...action }) => ({ ...action, phase: phaseOf.get(stage.order)! }) as Action)
    .sort(actionOrder);
  return {
    stack: input.stack.name,
    actions,
    phases,
    summary: summarize(input),
    unplaced: input.unplaced,
    // A note on a container left as it is (one that should move but cannot) is for a person.
    warnings: [
      ...input.warnings,
      ...input.intents.flatMap((intent) =>
        intent.kind === 'unchanged' && intent.note !== null ? [intent.note] : [],
      ),
    ],
    refused: null,
    waitUntil: input.waitUntil,
    rollouts: rollouts(input, batches),
    held: input.held,
  };
}

/** Per service whose replicas change config: how many, in how many batches, by which policy. */
function rollouts(input: ScheduleInput, batches: ReadonlyMap<Intent, { index: number }>): Rollout[] {
  const out = new Map<string, Rollout>();
  const settling = settlingReplicas(input.intents, batches);
  for (const intent of input.intents) {
    if (intent.kind !== 'replace' || intent.container.configHash === intent.service.configHash) continue;
    const { service } = intent;
    const config = service.deploy.updateConfig;
    const known = out.get(service.name);
    const batch = batches.get(intent)!.index + 1;
    out.set(service.name, {
      service: service.name,
      kind: input.rollingBack.has(service.name) ? 'rollback' : 'update',
      to: service.configHash,
      slots: (known?.slots ?? 0) + 1,
      batches: Math.max(known?.batches ?? 0, batch),
      parallelism: config.parallelism,
      delay: config.delay,
      order: intent.order,
      failureAction: config.failureAction,
      monitor: config.monitor,
      maxFailureRatio: config.maxFailureRatio,
      settling: settling.get(service.name) ?? [],
    });
  }
  return [...out.values()].sort((a, b) => (a.service < b.service ? -1 : 1));
}

/** Per service: its running replicas whose health is still `starting`, except those batch 1 replaces. */
function settlingReplicas(
  intents: readonly Intent[],
  batches: ReadonlyMap<Intent, { index: number }>,
): Map<string, Rollout['settling'][number][]> {
  const out = new Map<string, Rollout['settling'][number][]>();
  for (const intent of intents) {
    if (intent.kind !== 'unchanged' && intent.kind !== 'replace') continue;
    if (intent.kind === 'replace' && batches.get(intent)?.index === 0) continue;
    const { container } = intent;
    if (container.state !== 'running' || container.health !== 'starting' || !intent.service) continue;
    const list = out.get(intent.service.name) ?? [];
    list.push({ ...ref(container), configHash: container.configHash });
    out.set(intent.service.name, list);
  }
  return out;
}

const KIND_ORDER: readonly Action['kind'][] = [
  'build',
  'copy-image',
  'create-network',
  'create-volume',
  'pull',
  'unpause',
  'start',
  'create',
  'replace',
  'create-proxy',
  'mesh-sync',
  'remove',
  'remove-proxy',
  'remove-network',
  'remove-volume',
];

function actionOrder(a: Action, b: Action): number {
  return (
    a.phase - b.phase ||
    compare(a.service ?? '', b.service ?? '') ||
    (a.slot ?? 0) - (b.slot ?? 0) ||
    KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
    compare(a.host, b.host) ||
    compare(JSON.stringify(a), JSON.stringify(b))
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function summarize(input: ScheduleInput): Record<string, ServiceSummary> {
  const summary: Record<
    string,
    { desired: number; create: number; replace: number; remove: number; start: number; unchanged: number }
  > = {};
  const entry = (name: string) =>
    (summary[name] ??= {
      desired: input.stack.services[name]?.deploy.replicas ?? 0,
      create: 0,
      replace: 0,
      remove: 0,
      start: 0,
      unchanged: 0,
    });
  for (const name of Object.keys(input.stack.services).sort()) entry(name);
  for (const intent of input.intents) {
    const name = intent.service?.name ?? (intent.kind === 'remove' ? intent.container.service : null) ?? '?';
    const counts = entry(name);
    if (intent.kind === 'create') counts.create += 1;
    if (intent.kind === 'replace') counts.replace += 1;
    if (intent.kind === 'remove') counts.remove += 1;
    // A paused replica put back counts with the restarts: it was not running, and runs again.
    if (intent.kind === 'start' || intent.kind === 'unpause') counts.start += 1;
    if (intent.kind === 'unchanged') counts.unchanged += 1;
  }
  for (const [name, counts] of Object.entries(summary)) {
    const service = input.stack.services[name];
    if (service?.deploy.mode === 'global')
      counts.desired = counts.create + counts.replace + counts.start + counts.unchanged;
  }
  return summary;
}
