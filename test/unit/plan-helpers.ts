import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import type { Observed, ObservedContainer } from '../../src/planner/observed.js';
import { plan } from '../../src/planner/plan.js';
import type { Action, Plan } from '../../src/planner/plan-types.js';
import { loadStack } from '../../src/spec/load.js';
import type { Stack } from '../../src/spec/types.js';
import { applyPlan, emptyWorld, withContainers } from './simulate.js';

/** What the planner's example tests share: a stack on three hosts, and plans in brief. */

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

const HOSTS = `
x-heal:
  hosts:
    h1: { ssh: 10.0.0.11, labels: { zone: a, disk: ssd } }
    h2: { ssh: 10.0.0.12, labels: { zone: a } }
    h3: { ssh: 10.0.0.13, labels: { zone: b } }
`;

/**
 * Loads stack `app` on hosts h1 (zone a, ssd), h2 (zone a), h3 (zone b) with `body` after it, and
 * `files` (an env_file, a secret) beside it.
 */
export async function stackOf(body: string, files: Readonly<Record<string, string>> = {}): Promise<Stack> {
  const folder = mkdtempSync(join(tmpdir(), 'heal-planner-'));
  folders.push(folder);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(folder, name), text);
  writeFileSync(join(folder, 'stack.yml'), `name: app\n${HOSTS}\n${body}`);
  return loadStack({ file: 'stack.yml', environment: {}, cwd: folder });
}

let fleetFolder: string | null = null;
let fleetFiles = 0;

/**
 * Loads stack `app` on the hosts of `hostLines` (each an `x-heal.hosts` entry, `h1: { ssh: ... }`)
 * with `services` after them; the files of one test file share one folder.
 */
export async function fleetStack(hostLines: readonly string[], services: string): Promise<Stack> {
  if (fleetFolder === null) {
    fleetFolder = mkdtempSync(join(tmpdir(), 'heal-fleet-'));
    folders.push(fleetFolder);
  }
  const folder = fleetFolder;
  fleetFiles += 1;
  const file = `stack-${fleetFiles}.yml`;
  const hosts = hostLines.map((line) => `    ${line}`).join('\n');
  writeFileSync(join(folder, file), `name: app\nx-heal:\n  hosts:\n${hosts}\nservices:\n${services}`);
  return loadStack({ file, environment: {}, cwd: folder });
}

/** Replicas of `service` per host in `world`. */
export function perHost(world: Observed, service = 'web'): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const host of world.hosts)
    for (const container of host.containers)
      if (container.service === service) counts[host.name] = (counts[host.name] ?? 0) + 1;
  return counts;
}

export const T0 = 1_700_000_000_000;
export const T1 = T0 + 60_000;
export const T2 = T1 + 60_000;

/** One line per action, in plan order: `phase kind host what`. */
export function brief(result: Plan): string[] {
  return result.actions.map((action) => `${action.phase} ${action.kind} ${action.host} ${what(action)}`);
}

export function what(action: Action): string {
  switch (action.kind) {
    case 'create-network':
    case 'remove-network':
      return action.network;
    case 'create-volume':
    case 'remove-volume':
      return action.volume;
    case 'pull':
    case 'build':
      return action.image;
    case 'copy-image':
      return `${action.image} from ${action.from}`;
    case 'create':
      return `${action.service}/${action.slot} ${action.create.query.name}`;
    case 'start':
    case 'unpause':
      return `${action.service}/${action.slot} ${action.container.name}`;
    case 'replace':
      return `${action.service}/${action.slot} ${action.old.name} -> ${action.create.query.name} ${action.order}`;
    case 'remove':
      return `${action.service ?? '-'}/${action.slot ?? '-'} ${action.container.name}`;
    case 'create-proxy':
      return `${action.service} ${action.create.query.name}${action.old ? ` replaces ${action.old.name}` : ''}`;
    case 'remove-proxy':
      return `${action.service ?? '-'} ${action.container.name}`;
    case 'mesh-sync':
      return `${action.service} ${action.commands.map((command) => command.line).join(' | ')}`;
  }
}

/** The plan's change actions (no networks, volumes or pulls), in brief. */
export function changes(result: Plan): string[] {
  return brief(result).filter((line) => / (create|start|unpause|replace|remove) /.test(line));
}

/** Plans at T0 on an empty world, applies, and returns the world it leaves. */
export function deployed(stack: Stack, world: Observed = emptyWorld(stack), now = T0): Observed {
  const first = plan(stack, world, { now });
  expect(first.refused).toBeNull();
  return applyPlan(world, first, now);
}

/**
 * `containers` on hosts that already have every network of the stack and every image it uses, as
 * after an earlier deploy: the plan holds only the changes to containers.
 */
export function settled(stack: Stack, containers: readonly ObservedContainer[]): Observed {
  const networks = Object.values(stack.networks)
    .filter((network) => !network.external)
    .map((network) => network.engineName);
  const images = Object.values(stack.services).map((service) => service.image);
  const world = emptyWorld(stack);
  return withContainers({ hosts: world.hosts.map((host) => ({ ...host, networks, images })) }, containers);
}

/** Where each of the stack's containers runs: `host service/slot name`, sorted. */
export function layout(world: Observed): string[] {
  return world.hosts
    .flatMap((host) =>
      host.containers.map(
        (container) => `${host.name} ${container.service}/${container.slot} ${container.name}`,
      ),
    )
    .sort();
}
