import type { Check } from './check.js';
import { formatProblem, sortProblems } from './errors.js';
import type { Lookup } from './interpolate.js';
import { configHash } from './hash.js';
import { allHostsLocal, normalizeHeal, type SshFile } from './normalize-heal.js';
import {
  normalizeFileObjects,
  normalizeNetworks,
  normalizeVolumes,
  type ReadBytes,
} from './normalize-objects.js';
import { normalizeService, type NormalizedService, type ReadEnvFile } from './normalize-service.js';
import { isPlainObject, type SourceMap } from './parse.js';
import { meshServices } from '../mesh/stack-mesh.js';
import type { HealConfig, Network, Service, Stack } from './types.js';

export type NormalizeInput = {
  readonly tree: unknown;
  readonly source: SourceMap;
  /** The spec file as named by the user, for messages. */
  readonly file: string;
  readonly dir: string;
  /** What the spec's folder is called, for the default stack name (load.ts's `folderName`). */
  readonly folderName: string;
  readonly lookup: Lookup;
  readonly readBytes: ReadBytes;
  readonly sshFile: SshFile;
  readonly readEnvFile: ReadEnvFile;
};

const TOP_LEVEL_KEYS = [
  'name',
  'version',
  'services',
  'networks',
  'volumes',
  'secrets',
  'configs',
  'include',
  'models',
] as const;
const STACK_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/** Validates the interpolated tree and turns it into a Stack; problems are recorded on `check`. */
export function normalizeStack(input: NormalizeInput, check: Check): Stack | undefined {
  const root = check.object(input.tree, [], TOP_LEVEL_KEYS);
  if (!root) return undefined;
  if (root.version !== undefined) check.warn(['version'], 'ignored: obsolete in compose');
  if (root.include !== undefined)
    check.fail(['include'], 'is not supported by heal: keep the whole stack in one file', 'key');
  if (root.models !== undefined)
    check.fail(
      ['models'],
      "is not supported by heal: Docker Model Runner's models are Docker Desktop's",
      'key',
    );

  const name = stackName(check, root.name, input.folderName);
  const services = check.mapping(root.services, ['services']) ?? {};
  if (Object.keys(services).length === 0 && root.services === undefined)
    check.fail([], 'has no `services:`', 'key');

  const heal = normalizeHeal(check, root['x-heal'], { dir: input.dir, sshFile: input.sshFile });
  const localHosts = allHostsLocal(heal.hosts);
  const networks = normalizeNetworks(check, root.networks, name);
  const volumes = normalizeVolumes(check, root.volumes, name, { dir: input.dir, local: localHosts });
  const secrets = normalizeFileObjects(check, root.secrets, 'secrets', input.dir, input.readBytes);
  const configs = normalizeFileObjects(check, root.configs, 'configs', input.dir, input.readBytes);

  const context = {
    check,
    dir: input.dir,
    stackName: name,
    localHosts,
    lookup: input.lookup,
    readEnvFile: input.readEnvFile,
  };
  const normalized = Object.entries(services).flatMap(([serviceName, value]) => {
    const service = normalizeService(context, serviceName, value);
    return service ? [service] : [];
  });
  const usesDefault = normalized.some((service) =>
    service.networks.some((network) => network.name === 'default'),
  );
  const allNetworks =
    usesDefault && !networks.default ? { ...networks, default: defaultNetwork(name) } : networks;

  // Names declared, even where the declaration itself has a problem: one mistake is reported once.
  const declared = {
    networks: allNetworks,
    volumes,
    secrets: isPlainObject(root.secrets) ? root.secrets : {},
    configs: isPlainObject(root.configs) ? root.configs : {},
    services,
  };
  for (const service of normalized) checkReferences(check, service, declared);
  checkDependencyCycles(check, normalized);

  const objects = { networks: allNetworks, volumes, secrets, configs };
  checkMesh(check, normalized, allNetworks, heal);
  const hashed: Record<string, Service> = {};
  for (const service of normalized)
    hashed[service.name] = { ...service, configHash: configHash(service, objects) };
  return {
    name,
    file: input.file,
    dir: input.dir,
    services: hashed,
    ...objects,
    heal,
    warnings: sortProblems(check.warnings).map(formatProblem),
  };
}

/** compose's rule: the `name:` key, else the folder of the file, lowercased, with what compose drops. */
function stackName(check: Check, value: unknown, folder: string): string {
  const named = check.optionalString(value, ['name']);
  if (named !== null) {
    if (!STACK_NAME.test(named)) {
      check.fail(
        ['name'],
        `"${named}" is not a stack name: use lowercase letters, digits, "_" and "-", starting with a letter or digit`,
      );
    }
    return named;
  }
  const fromFolder = folder.toLowerCase().replace(/[^a-z0-9_-]/g, '');
  if (!STACK_NAME.test(fromFolder))
    check.fail([], `cannot take a stack name from the folder "${folder}": set \`name:\``, 'key');
  return fromFolder;
}

function defaultNetwork(stack: string): Network {
  return {
    name: 'default',
    external: false,
    engineName: `${stack}_default`,
    driver: null,
    driverOpts: {},
    internal: false,
    attachable: false,
    enableIpv6: false,
    ipam: { driver: null, config: [], options: {} },
    labels: {},
  };
}

type Declared = {
  readonly networks: Readonly<Record<string, unknown>>;
  readonly volumes: Readonly<Record<string, unknown>>;
  readonly secrets: Readonly<Record<string, unknown>>;
  readonly configs: Readonly<Record<string, unknown>>;
  readonly services: Readonly<Record<string, unknown>>;
};

function checkReferences(check: Check, service: NormalizedService, declared: Declared): void {
  const path = ['services', service.name];
  service.networks.forEach((network) => {
    if (!(network.name in declared.networks)) {
      check.fail(
        [...path, 'networks'],
        `network "${network.name}" is not declared under the top-level \`networks:\``,
      );
    }
  });
  service.volumes.forEach((mount, index) => {
    if (mount.type === 'volume' && mount.source !== null && !(mount.source in declared.volumes)) {
      check.fail(
        [...path, 'volumes', index],
        `volume "${mount.source}" is not declared under the top-level \`volumes:\``,
      );
    }
  });
  for (const kind of ['secrets', 'configs'] as const) {
    service[kind].forEach((mount, index) => {
      if (!(mount.source in declared[kind])) {
        check.fail(
          [...path, kind, index],
          `${kind === 'secrets' ? 'secret' : 'config'} "${mount.source}" is not declared under the top-level \`${kind}:\``,
        );
      }
    });
  }
  for (const dependency of Object.keys(service.dependsOn)) {
    if (dependency === service.name) check.fail([...path, 'depends_on'], 'a service cannot depend on itself');
    else if (!(dependency in declared.services))
      check.fail([...path, 'depends_on'], `service "${dependency}" does not exist`);
  }
}

function checkDependencyCycles(check: Check, services: readonly NormalizedService[]): void {
  const byName = new Map(services.map((service) => [service.name, service]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      return void check.fail(['services', name, 'depends_on'], `dependency cycle: ${cycle.join(' -> ')}`);
    }
    state.set(name, 'visiting');
    // A service naming itself is reported by checkReferences: not a second time as a cycle.
    for (const next of Object.keys(byName.get(name)?.dependsOn ?? {}))
      if (byName.has(next) && next !== name) visit(next, [...trail, name]);
    state.set(name, 'done');
  };
  for (const service of services) visit(service.name, []);
}

/**
 * A stack with mesh services needs every host's internal address (other hosts' proxies reach its
 * replicas there), and listeners the mesh can serve.
 */
function checkMesh(
  check: Check,
  services: readonly NormalizedService[],
  networks: Readonly<Record<string, Network>>,
  heal: HealConfig,
): void {
  const mesh = meshServices({
    services: Object.fromEntries(services.map((service) => [service.name, service])),
    networks,
  });
  for (const error of mesh.errors) check.fail(['services'], error);
  if (mesh.services.length === 0) return;
  const names = mesh.services.map((service) => service.name).join(', ');
  for (const host of Object.values(heal.hosts)) {
    if (host.internalAddress === null || host.internalAddress === undefined)
      check.fail(
        ['x-heal', 'hosts', host.name],
        `needs \`address:\` (the IP other hosts reach its replicas on): ${names} publish or expose ports through the routing mesh`,
        'key',
      );
  }
}
