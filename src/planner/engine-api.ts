import type { Service } from '../spec/types.js';

/**
 * A field of the create body that an engine older than `docker` ignores without a word (dockerd
 * reads JSON leniently): a container made there would differ from the spec, so heal places such
 * a service only on engines that know the field, as compose refuses to create it elsewhere.
 */
export type EngineRequirement = {
  /** What the spec sets, for messages: `volume subpath`. */
  readonly feature: string;
  /** The first Docker release (major) that reads it. */
  readonly docker: number;
  readonly api: string;
};

/** The healthcheck start_interval the engine uses when none is sent. */
export const ENGINE_START_INTERVAL_MS = 5_000;

const SUBPATH: EngineRequirement = { feature: 'a volume subpath', docker: 26, api: '1.45' };
const START_INTERVAL: EngineRequirement = { feature: 'healthcheck.start_interval', docker: 25, api: '1.44' };
const ENDPOINT_MAC: EngineRequirement = { feature: "a network's mac_address", docker: 25, api: '1.44' };
const ANNOTATIONS: EngineRequirement = { feature: 'annotations', docker: 24, api: '1.43' };

/** What the service's containers need of an engine, in a fixed order. */
export function engineRequirements(service: Service): readonly EngineRequirement[] {
  const known = REQUIREMENTS.get(service);
  if (known) return known;
  const needs: EngineRequirement[] = [];
  if (service.volumes.some((mount) => mount.type === 'volume' && mount.subpath !== null)) needs.push(SUBPATH);
  if (sendsStartInterval(service)) needs.push(START_INTERVAL);
  if (service.networks.some((network) => network.macAddress !== null)) needs.push(ENDPOINT_MAC);
  if (Object.keys(service.engine.annotations).length > 0) needs.push(ANNOTATIONS);
  REQUIREMENTS.set(service, needs);
  return needs;
}

const REQUIREMENTS = new WeakMap<Service, readonly EngineRequirement[]>();

/** start_interval is sent only when it differs from what the engine does without it. */
export function sendsStartInterval(service: Service): boolean {
  const interval = service.healthcheck?.startInterval ?? null;
  return (
    interval !== null && interval !== ENGINE_START_INTERVAL_MS && service.healthcheck?.test[0] !== 'NONE'
  );
}

/**
 * The first requirement an engine of this release (`docker info` ServerVersion, `26.1.4`) does not
 * meet, or null. An unknown release (no engine facts) is not held against the host.
 */
export function unmetRequirement(
  version: string,
  requirements: readonly EngineRequirement[],
): EngineRequirement | null {
  if (version === '' || requirements.length === 0) return null;
  const major = Number(/^(\d+)\./.exec(version)?.[1] ?? Number.NaN);
  // Docker's releases are numbered by year since 17.03; anything else (podman's 4.x) speaks an older API.
  return requirements.find((requirement) => !(major >= requirement.docker)) ?? null;
}

export function describeRequirement(requirement: EngineRequirement): string {
  return `${requirement.feature} needs Docker ${requirement.docker}.0 or later (API ${requirement.api})`;
}
