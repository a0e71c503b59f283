import { AUTOSCALE_KEY, normalizeAutoscale } from './autoscale.js';
import { describe, type Check } from './check.js';
import type { KeyPath } from './errors.js';
import type { Lookup } from './interpolate.js';
import { normalizeBuild } from './normalize-build.js';
import { normalizeDeploy } from './normalize-deploy.js';
import { ENGINE_KEYS, normalizeEngine } from './normalize-engine.js';
import { servesMesh } from './mesh-ports.js';
import { isPlainObject } from './parse.js';
import { splitCommand } from './split-command.js';
import { parseDevice } from './syntax/devices.js';
import { parseExtraHosts } from './syntax/extra-hosts.js';
import { parsePorts } from './syntax/ports.js';
import { parseServiceVolume } from './syntax/volumes.js';
import type {
  Dependency,
  FileMount,
  Healthcheck,
  Logging,
  Mount,
  PortMapping,
  PullPolicy,
  Service,
  ServiceNetwork,
  Ulimit,
} from './types.js';

/** What normalizing one service needs from the rest of the load. */
export type ServiceContext = {
  readonly check: Check;
  /** The folder relative paths resolve against. */
  readonly dir: string;
  /** The stack's name: a built image without `image:` is `heal.local/<stack>/<service>`. */
  readonly stackName: string;
  /** Every host is a local engine, whose paths are this machine's: a bind's source may be relative. */
  readonly localHosts: boolean;
  /** Variables for `environment: [KEY]` entries without a value. */
  readonly lookup: Lookup;
  /**
   * Reads an env_file (or a label_file: the same format): its variables, or undefined after
   * recording a problem at `path`. `raw`: each line is KEY=VALUE taken as written.
   */
  readonly readEnvFile: ReadEnvFile;
};

export type ReadEnvFile = (
  file: string,
  path: KeyPath,
  required: boolean,
  format?: 'dotenv' | 'raw',
  /** How messages name the file. */
  kind?: 'env file' | 'label file',
) => Map<string, string> | undefined;

export type NormalizedService = Omit<Service, 'configHash'>;

/** Keys heal reads. */
const IGNORED_KEYS = ['profiles', 'develop', 'attach'] as const;

/** Accepted and not acted on, each with why: `heal config`, `plan` and `apply` warn about them. */
const IGNORED: Readonly<Record<(typeof IGNORED_KEYS)[number], string>> = {
  profiles: 'ignored: heal deploys every service (as `docker stack deploy` does)',
  develop: "ignored: compose's local development feature",
  attach: "ignored: compose's local development feature",
};
const SERVICE_KEYS = [
  'image',
  'command',
  'entrypoint',
  'environment',
  'env_file',
  'ports',
  'expose',
  'volumes',
  'networks',
  'labels',
  'healthcheck',
  'restart',
  'stop_signal',
  'stop_grace_period',
  'user',
  'working_dir',
  'hostname',
  'domainname',
  'extra_hosts',
  'dns',
  'dns_search',
  'cap_add',
  'cap_drop',
  'security_opt',
  'devices',
  'group_add',
  'privileged',
  'read_only',
  'init',
  'tty',
  'stdin_open',
  'shm_size',
  'pid',
  'ipc',
  'network_mode',
  'platform',
  'runtime',
  'ulimits',
  'sysctls',
  'tmpfs',
  'logging',
  'depends_on',
  'secrets',
  'configs',
  'pull_policy',
  'deploy',
  'container_name',
  'scale',
  'cpus',
  'mem_limit',
  'mem_reservation',
  'pids_limit',
  'label_file',
  'gpus',
  'build',
  ...ENGINE_KEYS,
  ...IGNORED_KEYS,
] as const;

const SERVICE_NAME = /^[a-zA-Z0-9._-]+$/;

/** Keys heal knows and cannot honour, with what to do instead. */
const REJECTED: Readonly<Record<string, string>> = {
  links:
    "is not supported by heal: services reach each other by name on the stack's networks; use networks with aliases",
  external_links: 'is not supported by heal: attach the service to the external network instead',
  volumes_from: 'is not supported by heal: declare a named volume and mount it in both services',
  extends: 'is not supported by heal: write the service out in full (YAML anchors and merge keys work)',
  post_start:
    "is not supported by heal: compose's client runs lifecycle hooks in the container; run the command from the image's entrypoint",
  pre_stop:
    "is not supported by heal: compose's client runs lifecycle hooks in the container; handle the stop signal in the container instead",
  provider:
    'is not supported by heal: a provider service runs a plugin on the machine running compose, not a container on a host',
  use_api_socket:
    "is not supported by heal: it is Docker Desktop's; bind-mount /var/run/docker.sock on the host if the service needs the engine",
  models: "is not supported by heal: Docker Model Runner's models are Docker Desktop's",
  // Designed in src/mesh/README.md, not built: an x- key would otherwise pass as an extension.
  'x-heal-mesh':
    'is not built yet: to keep a port out of the routing mesh, publish it with mode: host (long syntax)',
};

export function normalizeService(
  context: ServiceContext,
  name: string,
  value: unknown,
): NormalizedService | undefined {
  const { check } = context;
  const path = ['services', name];
  // Compose's own rule; the name goes into container names and network aliases.
  if (!SERVICE_NAME.test(name)) {
    check.fail(path, `"${name}" is not a service name: use letters, digits, "_", "." and "-"`, 'key');
  }
  if (value === null || value === undefined)
    return void check.fail(path, 'must be a mapping with at least `image:`');
  for (const [key, advice] of Object.entries(REJECTED)) {
    if (isPlainObject(value) && key in value) check.fail([...path, key], advice, 'key');
  }
  const raw = check.object(value, path, [...SERVICE_KEYS, ...Object.keys(REJECTED)]);
  if (!raw) return undefined;
  const at = (key: string): KeyPath => [...path, key];

  const image = readImage(check, raw, path);
  const build = normalizeBuild(
    check,
    raw.build,
    at('build'),
    image,
    { stack: context.stackName, service: name },
    context.lookup,
  );
  for (const key of IGNORED_KEYS)
    if (raw[key] !== undefined && image !== undefined) check.warn(at(key), IGNORED[key]);
  const networkMode = readNetworkMode(check, raw.network_mode, at('network_mode'));
  const deploy = normalizeDeploy(check, raw.deploy, at('deploy'), raw);
  const replicas = readScale(check, raw, deploy.replicas, path);
  const containerName = check.optionalString(raw.container_name, at('container_name'));
  if (containerName !== null && (replicas > 1 || deploy.mode === 'global')) {
    check.fail(
      at('container_name'),
      'cannot name the containers of a service with more than one replica: remove it (heal names them <stack>-<service>-<slot>)',
      'key',
    );
  }
  const ports = readPorts(check, raw.ports, at('ports'));
  if (networkMode === 'host' && ports.length > 0)
    check.fail(at('ports'), 'cannot publish ports with network_mode: host');
  // compose refuses the file: the container joins one or the other, never both.
  if (
    raw.network_mode !== undefined &&
    raw.network_mode !== null &&
    raw.networks !== undefined &&
    raw.networks !== null
  )
    check.fail(at('networks'), 'cannot be set together with `network_mode`: keep one of them', 'key');

  const service: NormalizedService = {
    name,
    // A built image's reference is its repository and a tag derived from its content, known once
    // build-source.ts has read the committed context.
    image: build ? build.repository : (image ?? ''),
    containerName,
    command: readCommand(check, raw.command, at('command')),
    entrypoint: readCommand(check, raw.entrypoint, at('entrypoint')),
    ...readEnvironment(context, raw, path),
    ports,
    expose: readExpose(check, raw.expose, at('expose')),
    volumes: readVolumes(context, raw.volumes, at('volumes')),
    networks: networkMode === null ? readNetworks(check, raw.networks, at('networks')) : [],
    labels: readLabels(context, raw, path),
    healthcheck: readHealthcheck(check, raw.healthcheck, at('healthcheck')),
    restart: readRestart(check, raw.restart, at('restart')),
    stopSignal: check.optionalString(raw.stop_signal, at('stop_signal')),
    stopGracePeriod: check.duration(raw.stop_grace_period, at('stop_grace_period'), 10_000),
    user: check.optionalString(raw.user, at('user')),
    workingDir: check.optionalString(raw.working_dir, at('working_dir')),
    hostname: check.optionalString(raw.hostname, at('hostname')),
    domainname: check.optionalString(raw.domainname, at('domainname')),
    extraHosts: check.parsed(parseExtraHosts(raw.extra_hosts), at('extra_hosts')) ?? [],
    dns: check.strings(raw.dns, at('dns')),
    dnsSearch: check.strings(raw.dns_search, at('dns_search')),
    capAdd: check.strings(raw.cap_add, at('cap_add')),
    capDrop: check.strings(raw.cap_drop, at('cap_drop')),
    securityOpt: check.strings(raw.security_opt, at('security_opt')),
    devices: readDevices(check, raw.devices, at('devices')),
    groupAdd: check.strings(raw.group_add, at('group_add')),
    privileged: check.boolean(raw.privileged, at('privileged'), false),
    readOnly: check.boolean(raw.read_only, at('read_only'), false),
    init: check.boolean(raw.init, at('init'), false),
    tty: check.boolean(raw.tty, at('tty'), false),
    stdinOpen: check.boolean(raw.stdin_open, at('stdin_open'), false),
    shmSize: check.bytes(raw.shm_size, at('shm_size')),
    pid: check.optionalString(raw.pid, at('pid')),
    ipc: check.optionalString(raw.ipc, at('ipc')),
    networkMode,
    platform: check.optionalString(raw.platform, at('platform')),
    runtime: check.optionalString(raw.runtime, at('runtime')),
    ulimits: readUlimits(check, raw.ulimits, at('ulimits')),
    sysctls: check.labels(raw.sysctls, at('sysctls')),
    tmpfs: check.strings(raw.tmpfs, at('tmpfs')),
    logging: readLogging(check, raw.logging, at('logging')),
    dependsOn: readDependsOn(check, raw.depends_on, at('depends_on')),
    secrets: readFileMounts(check, raw.secrets, at('secrets'), '/run/secrets/'),
    configs: readFileMounts(check, raw.configs, at('configs'), '/'),
    pullPolicy: readPullPolicy(check, raw.pull_policy, at('pull_policy'), build !== null),
    build,
    deploy: { ...deploy, replicas },
    engine: normalizeEngine(check, raw, path),
  };
  return withAutoscale(check, raw, service, path);
}

/**
 * `x-heal-autoscale` (see autoscale.ts): the count starts at `deploy.replicas` (or `scale`) when
 * written, else at `min`.
 */
function withAutoscale(
  check: Check,
  raw: Record<string, unknown>,
  service: NormalizedService,
  path: KeyPath,
): NormalizedService {
  if (raw[AUTOSCALE_KEY] === undefined || raw[AUTOSCALE_KEY] === null) return service;
  const written = (value: unknown): boolean => value !== undefined && value !== null;
  const given = (isPlainObject(raw.deploy) && written(raw.deploy.replicas)) || written(raw.scale);
  const { deploy } = service;
  const autoscale = normalizeAutoscale(check, raw[AUTOSCALE_KEY], [...path, AUTOSCALE_KEY], {
    replicas: given ? deploy.replicas : null,
    global: deploy.mode === 'global',
    mesh: servesMesh(service),
    resources: deploy.resources,
  });
  if (autoscale === null) return service;
  return { ...service, deploy: { ...deploy, replicas: given ? deploy.replicas : autoscale.min, autoscale } };
}

/** label_file entries first, in order, then `labels:` on top, as compose merges them. */
function readLabels(
  context: ServiceContext,
  raw: Record<string, unknown>,
  path: KeyPath,
): Record<string, string> {
  const { check } = context;
  const files =
    raw.label_file === undefined || raw.label_file === null
      ? []
      : check.strings(raw.label_file, [...path, 'label_file']);
  const fromFiles: Record<string, string> = {};
  files.forEach((file, index) => {
    const at = Array.isArray(raw.label_file) ? [...path, 'label_file', index] : [...path, 'label_file'];
    for (const [key, value] of context.readEnvFile(file, at, true, 'dotenv', 'label file') ?? [])
      fromFiles[key] = value;
  });
  return { ...fromFiles, ...check.labels(raw.labels, [...path, 'labels']) };
}

function readDevices(check: Check, value: unknown, path: KeyPath): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return check.fail(path, `must be a list, not ${describe(value)}`) ?? [];
  return value.flatMap((entry, index) => check.parsed(parseDevice(entry), [...path, index]) ?? []);
}

function readImage(check: Check, raw: Record<string, unknown>, path: KeyPath): string | undefined {
  if (raw.image === undefined || raw.image === null) {
    if (raw.build !== undefined && raw.build !== null) return undefined;
    return check.fail(path, 'has no `image:`: heal needs an image every host can pull', 'key');
  }
  const image = check.string(raw.image, [...path, 'image']);
  if (image !== undefined && (image.trim() === '' || /\s/.test(image)))
    return check.fail([...path, 'image'], `"${image}" is not an image reference`);
  return image;
}

function readScale(check: Check, raw: Record<string, unknown>, replicas: number, path: KeyPath): number {
  if (raw.scale === undefined || raw.scale === null) return replicas;
  const scale = check.integer(raw.scale, [...path, 'scale'], { min: 0 });
  const deployReplicas = isPlainObject(raw.deploy) ? raw.deploy.replicas : undefined;
  if (
    scale !== undefined &&
    deployReplicas !== undefined &&
    deployReplicas !== null &&
    Number(deployReplicas) !== scale
  ) {
    return (
      check.fail(
        [...path, 'scale'],
        `is ${scale} but deploy.replicas is ${String(deployReplicas)}: keep one of them`,
        'key',
      ) ?? replicas
    );
  }
  return scale ?? replicas;
}

function readNetworkMode(check: Check, value: unknown, path: KeyPath): string | null {
  const mode = check.optionalString(value, path);
  if (mode === null) return null;
  if (mode.startsWith('service:') || mode.startsWith('container:')) {
    check.fail(
      path,
      `"${mode}" is not supported by heal: replicas of two services may land on different hosts; put both processes on a shared network instead`,
    );
    return null;
  }
  if (!['host', 'none', 'bridge'].includes(mode))
    check.fail(path, `"${mode}" is not a network mode: use host, none or bridge (or networks:)`);
  return mode;
}

function readCommand(check: Check, value: unknown, path: KeyPath): string[] | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') {
    const words = splitCommand(value);
    return 'error' in words ? (check.fail(path, words.error) ?? null) : words.value;
  }
  if (!Array.isArray(value))
    return check.fail(path, `must be a string or a list of strings, not ${describe(value)}`) ?? null;
  return check.strings(value, path);
}

function readEnvironment(
  context: ServiceContext,
  raw: Record<string, unknown>,
  path: KeyPath,
): Pick<Service, 'environment' | 'secretEnvironment'> {
  const { check } = context;
  const fromFiles = new Map<string, string>();
  const files =
    raw.env_file === undefined || raw.env_file === null
      ? []
      : Array.isArray(raw.env_file)
        ? raw.env_file
        : [raw.env_file];
  files.forEach((entry, index) => {
    const at = Array.isArray(raw.env_file) ? [...path, 'env_file', index] : [...path, 'env_file'];
    const file: Record<string, unknown> | undefined = isPlainObject(entry)
      ? check.object(entry, at, ['path', 'required', 'format'])
      : { path: entry };
    const location = file ? check.string(file.path, isPlainObject(entry) ? [...at, 'path'] : at) : undefined;
    if (location === undefined || !file) return;
    const format =
      file.format === undefined || file.format === null
        ? 'dotenv'
        : check.oneOf(file.format, [...at, 'format'], ['raw']);
    if (format === undefined) return;
    const required = check.boolean(file.required, [...at, 'required'], true);
    const values = context.readEnvFile(location, at, required, format);
    for (const [key, item] of values ?? []) fromFiles.set(key, item);
  });
  const environment: Record<string, string | null> = Object.fromEntries(fromFiles);
  const secret = new Set(fromFiles.keys());
  for (const [key, item] of check.keyValues(raw.environment, [...path, 'environment'])) {
    // `- DEBUG = true` would make a variable named "DEBUG ": compose refuses it, and so does heal.
    if (key.trimEnd() !== key) {
      check.fail([...path, 'environment', key], `variable "${key}" is declared with a trailing space`, 'key');
      continue;
    }
    const value = item ?? context.lookup(key) ?? null;
    if (typeof value === 'object' && value !== null)
      check.fail([...path, 'environment', key], `variable ${key} ${value.refused}`);
    else environment[key] = value;
    secret.delete(key);
  }
  return { environment, secretEnvironment: [...secret].sort() };
}

function readPorts(check: Check, value: unknown, path: KeyPath): PortMapping[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return check.fail(path, `must be a list, not ${describe(value)}`) ?? [];
  return value.flatMap((entry, index) => {
    const ports = check.parsed(parsePorts(entry), [...path, index]) ?? [];
    // A UDP or SCTP port whose ingress mode is only compose's default (the short syntax, or the
    // long one without `mode`): the mesh has no UDP, so it binds on the replica's host instead.
    const implicit = !isLongWithMode(entry);
    return ports.map((port) => {
      if (!implicit || port.mode !== 'ingress' || port.protocol === 'tcp') return port;
      check.warn(
        [...path, index],
        `${port.published === null ? '' : `${port.published}:`}${port.target}/${port.protocol} is published as mode: host (one replica per host): heal's routing mesh serves TCP only`,
        'value',
      );
      return { ...port, mode: 'host' as const };
    });
  });
}

function isLongWithMode(entry: unknown): boolean {
  return typeof entry === 'object' && entry !== null && 'mode' in entry && entry.mode !== undefined;
}

function readExpose(check: Check, value: unknown, path: KeyPath): string[] {
  const entries = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  return entries.flatMap((entry, index) => {
    const text = check.string(entry, [...path, index]);
    const match = text === undefined ? null : /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/.exec(text);
    if (!match)
      return text === undefined
        ? []
        : (check.fail([...path, index], `"${text}" is not a port or port range`) ?? []);
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first || last > 65535 || first < 1)
      return check.fail([...path, index], `"${text}" is not a port or port range`) ?? [];
    return Array.from({ length: last - first + 1 }, (_, offset) => `${first + offset}/${match[3] ?? 'tcp'}`);
  });
}

function readVolumes(context: ServiceContext, value: unknown, path: KeyPath): Mount[] {
  const { check } = context;
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return check.fail(path, `must be a list, not ${describe(value)}`) ?? [];
  return value.flatMap(
    (entry, index) =>
      check.parsed(parseServiceVolume(entry, { dir: context.dir, local: context.localHosts }), [
        ...path,
        index,
      ]) ?? [],
  );
}

const NO_ADDRESSES = { ipv4Address: null, ipv6Address: null, macAddress: null } as const;

/** Keys of a service's network compose accepts and heal cannot apply, with why. */
const NETWORK_REFUSED: Readonly<Record<string, string>> = {
  link_local_ips: 'is not supported by heal: give the endpoint an ipv4_address or ipv6_address',
  driver_opts: 'is not supported by heal: endpoint driver options are not sent to the engine',
  interface_name:
    'is not supported by heal: it needs API 1.49 (Docker 28.1), and the engine names interfaces itself',
  gw_priority:
    'is not supported by heal: it needs API 1.48 (Docker 28.0); connect the gateway network first instead',
};

function readNetworks(check: Check, value: unknown, path: KeyPath): ServiceNetwork[] {
  if (value === undefined || value === null) return [{ name: 'default', aliases: [], ...NO_ADDRESSES }];
  if (Array.isArray(value)) {
    return check.strings(value, path).map((name) => ({ name, aliases: [], ...NO_ADDRESSES }));
  }
  const networks = check.mapping(value, path) ?? {};
  const read = Object.entries(networks).map(([name, options]) => {
    const at = [...path, name];
    const raw =
      options === null
        ? {}
        : (check.object(options, at, [
            'aliases',
            'ipv4_address',
            'ipv6_address',
            'priority',
            'mac_address',
            ...Object.keys(NETWORK_REFUSED),
          ]) ?? {});
    for (const [key, why] of Object.entries(NETWORK_REFUSED))
      if (raw[key] !== undefined && raw[key] !== null) check.fail([...at, key], why, 'key');
    const priority =
      raw.priority === undefined || raw.priority === null
        ? 0
        : (check.integer(raw.priority, [...at, 'priority']) ?? 0);
    const network: ServiceNetwork = {
      name,
      aliases: check.strings(raw.aliases, [...at, 'aliases']),
      ipv4Address: check.optionalString(raw.ipv4_address, [...at, 'ipv4_address']),
      ipv6Address: check.optionalString(raw.ipv6_address, [...at, 'ipv6_address']),
      macAddress: check.optionalString(raw.mac_address, [...at, 'mac_address']),
    };
    return { network, priority };
  });
  // As compose: the highest priority connects first (the first network is the create's); ties keep
  // the order written.
  return read.sort((a, b) => b.priority - a.priority).map(({ network }) => network);
}

/** Docker's own defaults for a healthcheck that gives its test. */
const HEALTHCHECK_DEFAULTS = {
  interval: 30_000,
  timeout: 30_000,
  retries: 3,
  startPeriod: 0,
  startInterval: 5_000,
};

/**
 * With a test (or `disable`), a timing left out is Docker's default. Without one, the image's own
 * test runs and a timing left out stays null: the image's own (a `healthcheck:` with only
 * `disable: false`, as real files write, changes nothing).
 */
function readHealthcheck(check: Check, value: unknown, path: KeyPath): Healthcheck | null {
  if (value === undefined || value === null) return null;
  const raw = check.object(value, path, [
    'test',
    'interval',
    'timeout',
    'retries',
    'start_period',
    'start_interval',
    'disable',
  ]);
  if (!raw) return null;
  const disabled = check.boolean(raw.disable, [...path, 'disable'], false);
  const test = disabled ? ['NONE'] : readHealthTest(check, raw.test, [...path, 'test']);
  const given = test.length > 0;
  const duration = (key: string, fallback: number): number | null =>
    raw[key] === undefined || raw[key] === null
      ? given
        ? fallback
        : null
      : check.duration(raw[key], [...path, key], fallback);
  const retries =
    raw.retries === undefined || raw.retries === null
      ? given
        ? HEALTHCHECK_DEFAULTS.retries
        : null
      : (check.integer(raw.retries, [...path, 'retries'], { min: 0 }) ?? HEALTHCHECK_DEFAULTS.retries);
  return {
    test,
    interval: duration('interval', HEALTHCHECK_DEFAULTS.interval),
    timeout: duration('timeout', HEALTHCHECK_DEFAULTS.timeout),
    retries,
    startPeriod: duration('start_period', HEALTHCHECK_DEFAULTS.startPeriod),
    startInterval: duration('start_interval', HEALTHCHECK_DEFAULTS.startInterval),
  };
}

/** Empty: keep the image's own test, with the intervals given here. */
function readHealthTest(check: Check, value: unknown, path: KeyPath): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value.trim() === '' ? [] : ['CMD-SHELL', value];
  const test = Array.isArray(value)
    ? check.strings(value, path)
    : (check.fail(path, `must be a string or a list, not ${describe(value)}`) ?? []);
  const [kind] = test;
  if (kind !== undefined && !['CMD', 'CMD-SHELL', 'NONE'].includes(kind)) {
    return check.fail([...path, 0], `must be CMD, CMD-SHELL or NONE, not ${JSON.stringify(kind)}`) ?? [];
  }
  return test;
}

function readRestart(check: Check, value: unknown, path: KeyPath): string | null {
  const restart = check.optionalString(value, path);
  if (restart === null || /^(no|always|unless-stopped|on-failure(:\d+)?)$/.test(restart)) return restart;
  return (
    check.fail(
      path,
      `"${restart}" is not a restart policy: use no, always, on-failure[:N] or unless-stopped`,
    ) ?? null
  );
}

function readUlimits(check: Check, value: unknown, path: KeyPath): Record<string, Ulimit> {
  const limits = check.mapping(value, path) ?? {};
  const out: Record<string, Ulimit> = {};
  for (const [name, limit] of Object.entries(limits)) {
    const at = [...path, name];
    if (!isPlainObject(limit)) {
      const both = check.integer(limit, at);
      if (both !== undefined) out[name] = { soft: both, hard: both };
      continue;
    }
    const raw = check.object(limit, at, ['soft', 'hard']) ?? {};
    const soft = check.integer(raw.soft, [...at, 'soft']);
    const hard = check.integer(raw.hard, [...at, 'hard']);
    if (soft !== undefined && hard !== undefined) out[name] = { soft, hard };
  }
  return out;
}

function readLogging(check: Check, value: unknown, path: KeyPath): Logging | null {
  if (value === undefined || value === null) return null;
  const raw = check.object(value, path, ['driver', 'options']) ?? {};
  return {
    driver: check.optionalString(raw.driver, [...path, 'driver']),
    options: check.labels(raw.options, [...path, 'options']),
  };
}

const CONDITIONS = ['service_started', 'service_healthy', 'service_completed_successfully'] as const;

function readDependsOn(check: Check, value: unknown, path: KeyPath): Record<string, Dependency> {
  if (value === undefined || value === null) return {};
  const started: Dependency = { condition: 'service_started', required: true, restart: false };
  if (Array.isArray(value))
    return Object.fromEntries(check.strings(value, path).map((name) => [name, started]));
  const entries = check.mapping(value, path) ?? {};
  return Object.fromEntries(
    Object.entries(entries).map(([name, options]) => {
      const at = [...path, name];
      const raw =
        options === null ? {} : (check.object(options, at, ['condition', 'required', 'restart']) ?? {});
      const condition =
        raw.condition === undefined
          ? 'service_started'
          : (check.oneOf(raw.condition, [...at, 'condition'], CONDITIONS) ?? 'service_started');
      return [
        name,
        {
          condition,
          required: check.boolean(raw.required, [...at, 'required'], true),
          restart: check.boolean(raw.restart, [...at, 'restart'], false),
        },
      ];
    }),
  );
}

function readFileMounts(check: Check, value: unknown, path: KeyPath, folder: string): FileMount[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return check.fail(path, `must be a list, not ${describe(value)}`) ?? [];
  return value.flatMap((entry, index): FileMount[] => {
    const at = [...path, index];
    if (typeof entry === 'string')
      return [{ source: entry, target: folder + entry, uid: null, gid: null, mode: null }];
    const raw = check.object(entry, at, ['source', 'target', 'uid', 'gid', 'mode']);
    const source = raw ? check.string(raw.source, [...at, 'source']) : undefined;
    if (!raw || source === undefined) return [];
    const target = check.optionalString(raw.target, [...at, 'target']) ?? source;
    return [
      {
        source,
        target: target.startsWith('/') ? target : folder + target,
        uid: check.optionalString(raw.uid, [...at, 'uid']),
        gid: check.optionalString(raw.gid, [...at, 'gid']),
        mode: readFileMode(check, raw.mode, [...at, 'mode']),
      },
    ];
  });
}

/**
 * As compose-go's FileMode: a YAML number as it came (`0o440`), a string as octal digits (`"0440"`,
 * and what interpolation leaves of `mode: $MODE`).
 */
function readFileMode(check: Check, value: unknown, path: KeyPath): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') return check.integer(value, path, { min: 0, max: 0o7777 }) ?? null;
  const digits = /^(?:0o?)?([0-7]+)$/i.exec(value.trim())?.[1];
  const mode = digits === undefined ? Number.NaN : parseInt(digits, 8);
  if (!(mode <= 0o7777))
    return check.fail(path, `"${value}" is not a file mode: give octal digits, as in "0440"`) ?? null;
  return mode;
}

function readPullPolicy(check: Check, value: unknown, path: KeyPath, built: boolean): PullPolicy {
  if (value === undefined || value === null) return 'missing';
  const policy = check.string(value, path);
  // With build:, heal builds what is missing where it is missing (build-source.ts, planner/builds.ts).
  if (built) {
    if (policy === 'build' || policy === 'missing' || policy === 'if_not_present') return 'missing';
    return (
      check.fail(
        path,
        `"${String(policy)}" with build: heal builds the image when its context changed and copies or pulls it where it is missing; remove pull_policy`,
      ) ?? 'missing'
    );
  }
  if (policy === 'if_not_present') return 'missing';
  if (policy === 'always' || policy === 'missing' || policy === 'never') return policy;
  if (policy === 'build')
    return check.fail(path, 'needs `build:` (the context heal builds the image from)') ?? 'missing';
  if (policy === undefined) return 'missing';
  return (
    check.fail(path, `"${policy}" is not a pull policy heal supports: use always, missing or never`) ??
    'missing'
  );
}
