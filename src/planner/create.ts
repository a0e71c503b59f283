import type { Service, Stack } from '../spec/types.js';
import { serviceToCompose } from '../spec/to-compose.js';
import {
  containerConfig,
  createQuery,
  extraNetworks,
  fileMounts,
  type SlotIdentity,
} from './container-config.js';
import { exitZero, JOB_TIMEOUT_MS } from './jobs.js';
import { LABEL } from './labels.js';
import type { CreateSpec } from './plan-types.js';
import type { PreviousConfig } from './rollout.js';

/** What stands in for an env_file value in a plan: the executor fills the real one from the spec. */
export const SECRET_PLACEHOLDER = '**secret**';

export type CreateContext = {
  readonly stack: Stack;
  readonly generation: string;
  readonly revision: string | null;
  /** Container names in use per host, including the ones this plan gives out. */
  readonly names: Map<string, Set<string>>;
  /** Per service, the config before the spec's, recorded on new containers for a rollback. */
  readonly previous?: ReadonlyMap<string, PreviousConfig>;
};

/** The name a slot's container is meant to have: the service's container_name, or `<stack>-<service>-<slot>`. */
export function slotName(stack: Stack, service: Service, slot: number, host: string): string {
  return service.containerName ?? `${stack.name}-${service.name}-${slot === 0 ? host : slot}`;
}

/**
 * The create spec for one slot on one host. The name is `<stack>-<service>-<slot>` (the host for a
 * global service) unless a container that still exists holds it; then a suffix from the
 * generation lets the new one stand beside the old. `freed`: a name the old container gives up
 * before this one is created (stop-first).
 */
export function buildCreate(
  context: CreateContext,
  service: Service,
  slot: number,
  host: string,
  freed: string | null = null,
): CreateSpec {
  const { stack } = context;
  const base = slotName(stack, service, slot, host);
  const taken = context.names.get(host) ?? new Set<string>();
  context.names.set(host, taken);
  const name =
    taken.has(base) && base !== freed ? `${base}-${Number(context.generation).toString(36)}` : base;
  taken.add(name);
  const id: SlotIdentity = {
    stack,
    service,
    slot,
    host,
    name,
    generation: context.generation,
    revision: context.revision,
  };
  const body = containerConfig(id);
  const secret = new Set(service.secretEnvironment);
  return {
    host,
    query: createQuery(id),
    body: {
      ...body,
      ...(body.Env ? { Env: body.Env.map((entry) => redact(entry, secret)) } : {}),
      Labels: {
        ...body.Labels,
        [LABEL.spec]: serviceSpecLabel(service),
        ...previousLabels(context, service),
      },
    },
    secretEnv: [...secret].sort(),
    extraNetworks: extraNetworks(id),
    files: fileMounts(id),
    waitHealthy: true,
    exitZero: exitZero(stack, service),
    healthTimeout:
      exitZero(stack, service) === 'awaited'
        ? Math.max(JOB_TIMEOUT_MS, healthTimeout(service))
        : healthTimeout(service),
  };
}

function previousLabels(context: CreateContext, service: Service): Record<string, string> {
  const before = context.previous?.get(service.name);
  return before ? { [LABEL.previousConfigHash]: before.configHash, [LABEL.previousSpec]: before.spec } : {};
}

function redact(entry: string, secret: ReadonlySet<string>): string {
  const key = entry.slice(0, entry.indexOf('='));
  return secret.has(key) ? `${key}=${SECRET_PLACEHOLDER}` : entry;
}

/**
 * How long a new container may take to turn healthy: its start period plus as many checks as
 * it takes to fail, and a margin. Without a healthcheck it only has to be running.
 */
function healthTimeout(service: Service): number {
  const check = service.healthcheck;
  if (!check || check.test[0] === 'NONE') return 30_000;
  // A timing left to the image is taken at Docker's default: the image's own is not known here.
  const interval = check.interval ?? 30_000;
  const timeout = check.timeout ?? 30_000;
  return (check.startPeriod ?? 0) + (interval + timeout) * ((check.retries ?? 3) + 1) + 30_000;
}

/** The service in compose's long form with secrets redacted: what a container records it was made from. */
export function serviceSpecLabel(service: Service): string {
  // The same for every slot of the (frozen) service: made once, not per container.
  const known = SPEC_LABELS.get(service);
  if (known !== undefined) return known;
  const label = specLabel(service);
  SPEC_LABELS.set(service, label);
  return label;
}

const SPEC_LABELS = new WeakMap<Service, string>();

function specLabel(service: Service): string {
  // deploy is how heal runs the containers, and the hash is what is being diffed: both stay out.
  const { deploy, 'x-heal-config-hash': _hash, ...container } = serviceToCompose(service);
  return JSON.stringify({ ...container, resources: (deploy as Record<string, unknown>).resources });
}
