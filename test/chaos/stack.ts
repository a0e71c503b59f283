/**
 * The chaos suite's stack: three services, fifteen replicas, on the test bed's four hosts. Its
 * shape (replica counts and image tag) is all a fault's commit changes; the bad commits are texts
 * that must never be applied.
 */
import type { TestbedEnv } from '../testbed.js';

export const STACK = 'chaos';
export const HOSTS = ['h1', 'h2', 'h3', 'h4'] as const;
/** A port every host's bystander publishes: a spec asking for it can be placed nowhere. */
export const TAKEN_PORT = 9090;

export type Shape = {
  /** Tag of the web image in the registry (a copy of web:v1 under a new name forces a pull). */
  readonly tag: string;
  readonly web: number;
  readonly api: number;
  readonly worker: number;
};

export const FIRST_SHAPE: Shape = { tag: 'v1', web: 8, api: 5, worker: 2 };

/** How a service's rollout may take replicas down: its update_config parallelism. */
export const PARALLELISM: Readonly<Record<string, number>> = { web: 2, api: 1, worker: 1 };
/** Services whose replicas count as up only once healthy. */
export const HEALTHCHECKED: ReadonlySet<string> = new Set(['web', 'api']);

export type Files = {
  /** A `secrets:` file (its content must never be logged). */
  readonly secretFile: string;
  /** An `env_file` of api (its values must never be logged). */
  readonly envFile: string;
};

export function replicasOf(shape: Shape): Record<string, number> {
  return { web: shape.web, api: shape.api, worker: shape.worker };
}

export function imageOf(env: TestbedEnv, shape: Shape): string {
  return `${env.registry}/web:${shape.tag}`;
}

/**
 * Variables a second daemon is given (`--allow-env`) to reach h1 another way, through a relay
 * (the split-view fault); the suite's own daemon is not allowed them and reads the defaults.
 */
export const VIEW_VARIABLES = { h1: 'CHAOS_H1_SSH', knownHosts: 'CHAOS_KNOWN_HOSTS' } as const;

function header(env: TestbedEnv): string[] {
  return [
    '# heal chaos suite',
    `name: ${STACK}`,
    'x-heal:',
    `  ssh: { user: root, identity_file: ${env.identityFile}, known_hosts: "\${${VIEW_VARIABLES.knownHosts}:-${env.knownHosts}}" }`,
    '  hosts:',
    ...env.hosts
      .filter((host) => (HOSTS as readonly string[]).includes(host.name))
      .map((host) =>
        host.name === 'h1'
          ? `    h1: { ssh: "\${${VIEW_VARIABLES.h1}:-${host.ssh}}" }`
          : `    ${host.name}: { ssh: ${host.ssh} }`,
      ),
    '  watch: { interval: 5s, host_down_after: 3s }',
    // Three voters of four hosts, as the README advises: the lock still has a majority when h3 and h4 die together.
    '  lock: { hosts: [h1, h2, h3] }',
  ];
}

const HEALTHCHECK = [
  '    healthcheck:',
  '      test: ["CMD", "wget", "-qO-", "localhost:8080/health"]',
  '      interval: 1s',
  '      timeout: 2s',
  '      retries: 2',
];

/** The spec of `shape`; `extra` lines are appended under `services:` (a service a fault adds). */
export function specText(env: TestbedEnv, shape: Shape, files: Files, extra: readonly string[] = []): string {
  const image = imageOf(env, shape);
  return [
    ...header(env),
    'services:',
    '  web:',
    `    image: ${image}`,
    ...HEALTHCHECK,
    '    deploy:',
    `      replicas: ${shape.web}`,
    '      update_config: { parallelism: 2, failure_action: rollback, monitor: 5s }',
    '  api:',
    `    image: ${image}`,
    `    env_file: ${files.envFile}`,
    '    secrets: [api_token]',
    ...HEALTHCHECK,
    '    deploy:',
    `      replicas: ${shape.api}`,
    '      update_config: { parallelism: 1, order: start-first, failure_action: rollback }',
    '  worker:',
    `    image: ${image}`,
    '    environment: { ROLE: worker }',
    '    deploy:',
    `      replicas: ${shape.worker}`,
    '      update_config: { parallelism: 1 }',
    ...extra,
    'secrets:',
    `  api_token: { file: ${files.secretFile} }`,
    '',
  ].join('\n');
}

/** A service no host can take: every host's bystander already publishes its port. */
export function portTakenSpec(env: TestbedEnv, shape: Shape, files: Files): string {
  return specText(env, shape, files, [
    '  edge:',
    `    image: ${imageOf(env, shape)}`,
    `    ports: ["${TAKEN_PORT}:8080"]`,
  ]);
}

/** Every service at zero replicas: the plan would remove the whole stack. */
export function zeroSpec(env: TestbedEnv, shape: Shape, files: Files): string {
  return specText(env, { ...shape, web: 0, api: 0, worker: 0 }, files);
}

export function invalidYaml(env: TestbedEnv, shape: Shape, files: Files): string {
  return specText(env, shape, files).replace('services:\n  web:', 'services:\n  web: [\n');
}

export function schemaError(env: TestbedEnv, shape: Shape, files: Files): string {
  return specText(env, shape, files).replace(`replicas: ${shape.web}`, 'replicas: lots');
}

export function unknownTag(env: TestbedEnv, shape: Shape, files: Files): string {
  return specText(env, { ...shape, tag: 'no-such-tag' }, files);
}

/** A billion laughs: nine levels of ten aliases each, a few hundred bytes that expand to 10^9. */
export function aliasBomb(): string {
  const lines = ['name: chaos', 'a0: &a0 ["lol"]'];
  for (let level = 1; level <= 9; level += 1)
    lines.push(`a${level}: &a${level} [${Array.from({ length: 10 }, () => `*a${level - 1}`).join(', ')}]`);
  lines.push('services:', '  web: { image: busybox, command: *a9 }', '');
  return lines.join('\n');
}

/**
 * One 200 KB scalar aliased 10,000 times: a 235 KB file that expands to 2 GB. A bound on nodes
 * lets it through; only a bound on expanded bytes stops it before it takes the memory.
 */
export function byteBomb(): string {
  return [
    'name: chaos',
    `x-big: &big "${'x'.repeat(200_000)}"`,
    'services:',
    '  web:',
    '    image: busybox',
    `    command: [${Array.from({ length: 10_000 }, () => '*big').join(', ')}]`,
    '',
  ].join('\n');
}

/** Paths a hostile commit names to reach what the daemon holds, and what lies at each. */
export type Loot = {
  /** The daemon's SSH private key (under --allow-ssh). */
  readonly identityFile: string;
  /** An operator's env file outside the repository and every allowed folder. */
  readonly outsideEnvFile: string;
  /** Another operator's file there, which a symbolic link in the repository points to. */
  readonly outsideFile: string;
};

/** The repository's symbolic link out of it (see hostileSpec). */
export const LINK_NAME = 'linked-secret';
/** Where the hostile commit would put a config; the leak scan reads it in every container. */
export const LEAK_CONFIG_TARGET = '/etc/leak.conf';

/**
 * The stack plus a service that tries every way a commit could copy the daemon's credentials out
 * at once: heal's variables in a label and in a pass-through, its environment, its SSH key and an
 * operator's file as secrets and a config, an absolute env_file and a link out of the repository.
 */
export function hostileSpec(env: TestbedEnv, shape: Shape, files: Files, loot: Loot): string {
  const text = specText(env, shape, files, [
    '  leak:',
    `    image: ${imageOf(env, shape)}`,
    '    labels:',
    '      password: "${HEAL_REGISTRY_PASSWORD}"',
    '      hook: "${HEAL_WEBHOOK_SECRET:-none}"',
    '    environment: [HEAL_REGISTRY_PASSWORD]',
    `    env_file: ${loot.outsideEnvFile}`,
    '    secrets: [environ, ssh_key, linked]',
    `    configs: [{ source: environ_conf, target: ${LEAK_CONFIG_TARGET} }]`,
    '    deploy: { replicas: 1 }',
  ]);
  return [
    text.trimEnd(),
    '  environ: { file: /proc/self/environ }',
    `  ssh_key: { file: ${loot.identityFile} }`,
    `  linked: { file: ./${LINK_NAME} }`,
    'configs:',
    '  environ_conf: { file: /proc/self/environ }',
    '',
  ].join('\n');
}

/** A spec of about 50 MB: the stack followed by a comment block nobody would write by hand. */
export function hugeSpec(env: TestbedEnv, shape: Shape, files: Files): string {
  const line = `# ${'x'.repeat(98)}\n`;
  return specText(env, shape, files) + line.repeat(500_000);
}
