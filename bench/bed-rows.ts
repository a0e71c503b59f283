/**
 * The rows measured on the test bed, heal beside Docker Swarm and the floor. heal and the floor run
 * first, with no swarm on the hosts; then one swarm is formed on the same hosts for Swarm's
 * figures, and left. Each measurement cleans up what it made; a failed one leaves its cell empty
 * (and says why on stderr) without stopping the others.
 */
import type { TestbedEnv } from '../test/testbed.js';
import { deployFloor, deployHeal, deploySwarm, scaleFloor, scaleHeal, scaleSwarm } from './apply-rows.js';
import { hostFaultHeal, hostFaultSwarm } from './host-rows.js';
import { killFloor, killHeal, killSwarm } from './kill-rows.js';
import { meshHostOffRow, meshLatencyRows, meshRolloutRow } from './mesh-rows.js';
import type { ResultRow } from './results-row.js';
import { rolloutFloor, rolloutHeal, rolloutSwarm } from './rollout-rows.js';
import { withSwarm } from './swarm.js';
import { aboveFloor, allOf, type Cells, everyRun, type Target, targets } from './targets.js';
import { docker, HOSTS } from './util.js';
import { commitToConverged, idleDaemon, type GitSamples, type IdleSamples } from './watch-rows.js';

/** The measurements, by the key `--only=a,b` names. */
export const BED_KEYS = [
  'create',
  'apply24',
  'scale',
  'kill',
  'killbusy',
  'hostdown',
  'frozen',
  'cutoff',
  'git',
  'idle',
  'rollout',
  'meshlatency',
  'meshroll',
  'meshhostoff',
] as const;
export type BedKey = (typeof BED_KEYS)[number];
/**
 * Rows with no Swarm figure: following git, the daemon at rest, and the routing mesh (this
 * kernel has no IPVS: Swarm's mesh cannot run here; the mesh is compared with direct requests).
 */
const HEAL_ONLY: readonly BedKey[] = ['git', 'idle', 'meshlatency', 'meshroll', 'meshhostoff'];

const CREATE = { name: 'bcreate', replicas: 6, health: true };
const APPLY24 = { name: 'bapply', replicas: 24, health: false };
const SCALE = { name: 'bscale', from: 6, to: 24 };
const ROLLOUT = { name: 'broll', replicas: 12, parallelism: 3 };

export async function bedRows(env: TestbedEnv, only: ReadonlySet<BedKey>): Promise<ResultRow[]> {
  const cells = new Map<BedKey, Cells>(BED_KEYS.map((key) => [key, {}]));
  const cell = (key: BedKey): Cells => cells.get(key)!;
  const wants = (key: BedKey): boolean => only.has(key);
  let git: GitSamples | null = null;
  let idle: IdleSamples | null = null;
  const guard = async <T>(what: string, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (error) {
      console.error(`bench: ${what} failed: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  };

  const pulled = await ensureImage(env, env.images.web1);
  // The rollout's new image too, so that no column pays a pull.
  const pulled2 = wants('rollout') || wants('meshroll') ? await ensureImage(env, env.images.web2) : [];
  const meshRows: ResultRow[] = [];
  try {
    // heal and the floor, no swarm on the hosts.
    if (wants('create')) {
      cell('create').heal = await deployHeal(env, CREATE);
      cell('create').floor = await deployFloor(env, CREATE);
    }
    if (wants('apply24')) {
      cell('apply24').heal = await deployHeal(env, APPLY24);
      cell('apply24').floor = await deployFloor(env, APPLY24);
    }
    if (wants('scale')) {
      cell('scale').heal = await scaleHeal(env, SCALE);
      cell('scale').floor = await scaleFloor(env, SCALE);
    }
    if (wants('kill')) {
      cell('kill').heal = await guard('heal kill', () => killHeal(env, 'bkill', 'quiet'));
      cell('kill').floor = await guard('floor kill', () => killFloor(env, 'quiet'));
    }
    if (wants('killbusy')) {
      cell('killbusy').heal = await guard('heal kill busy', () => killHeal(env, 'bkill', 'busy'));
      cell('killbusy').floor = await guard('floor kill busy', () => killFloor(env, 'busy'));
    }
    if (wants('hostdown')) cell('hostdown').heal = await hostFaultHeal(env, 'bhostdown', 'off');
    if (wants('frozen')) cell('frozen').heal = await hostFaultHeal(env, 'bfrozen', 'frozen');
    if (wants('cutoff')) cell('cutoff').heal = await hostFaultHeal(env, 'bcutoff', 'cut');
    if (wants('git')) git = (await guard('heal git', () => commitToConverged(env, 'bgit'))) ?? null;
    if (wants('idle')) idle = (await guard('heal idle', () => idleDaemon(env, 'bidle'))) ?? null;
    if (wants('rollout')) {
      cell('rollout').heal = await rolloutHeal(env, ROLLOUT);
      cell('rollout').floor = await rolloutFloor(env, ROLLOUT);
    }
    if (wants('meshlatency')) meshRows.push(...(await meshLatencyRows(env)));
    if (wants('meshroll'))
      for (const order of ['stop-first', 'start-first'] as const)
        meshRows.push(await meshRolloutRow(env, order));
    if (wants('meshhostoff')) meshRows.push(await meshHostOffRow(env));

    // Docker Swarm on the same hosts.
    const swarmKeys = BED_KEYS.filter((key) => !HEAL_ONLY.includes(key));
    if (swarmKeys.some((key) => wants(key))) {
      await guard('swarm', () =>
        withSwarm(env, async () => {
          if (wants('create')) cell('create').swarm = await deploySwarm(env, CREATE);
          if (wants('apply24')) cell('apply24').swarm = await deploySwarm(env, APPLY24);
          if (wants('scale')) cell('scale').swarm = await scaleSwarm(env, SCALE);
          if (wants('kill'))
            cell('kill').swarm = await guard('swarm kill', () => killSwarm(env, 'bkill-swarm', 'quiet'));
          if (wants('killbusy'))
            cell('killbusy').swarm = await guard('swarm kill busy', () =>
              killSwarm(env, 'bkill-swarm', 'busy'),
            );
          if (wants('hostdown')) cell('hostdown').swarm = await hostFaultSwarm(env, 'bhostdown-swarm', 'off');
          if (wants('frozen')) cell('frozen').swarm = await hostFaultSwarm(env, 'bfrozen-swarm', 'frozen');
          if (wants('cutoff')) cell('cutoff').swarm = await hostFaultSwarm(env, 'bcutoff-swarm', 'cut');
          if (wants('rollout')) cell('rollout').swarm = await rolloutSwarm(env, ROLLOUT);
        }),
      );
    }
  } finally {
    for (const host of pulled) await docker(env, host, ['rmi', env.images.web1]).catch(() => undefined);
    for (const host of pulled2) await docker(env, host, ['rmi', env.images.web2]).catch(() => undefined);
  }

  const rows: ResultRow[] = [];
  // The targets: at most half of Swarm's time on every row Swarm shares; within 1.5x of
  // the floor for create, scale and the rollout. Each part is shown with its ratio.
  const both = targets({ swarm: 0.5, floor: 1.5 });
  const swarmOnly = targets({ swarm: 0.5 });
  if (wants('create')) rows.push(row('create 6 replicas over 3 hosts (healthy)', 's', cell('create'), both));
  if (wants('apply24'))
    rows.push(
      row('apply 24 containers over 3 hosts', 's', cell('apply24'), targets({ swarm: 0.5, floor: 1.5 })),
    );
  if (wants('scale')) rows.push(row('scale 6 → 24', 's', cell('scale'), both));
  // The targets for healing: a kill ≤ 1 s and a silent host < 6 s, in every run. Busy
  // engines take more than 1 s to start a container by themselves (the floor), so a kill is also
  // held to what heal adds to the engine's own kill-to-start: 0.3 s.
  const killTarget = allOf(everyRun(1, '≤'), aboveFloor(0.3), swarmOnly);
  const hostTarget = allOf(everyRun(6, '<'), swarmOnly);
  if (wants('kill'))
    rows.push(row('docker kill of a replica → running again', 's', cell('kill'), killTarget));
  if (wants('killbusy'))
    rows.push(row('docker kill → running again, engines busy', 's', cell('killbusy'), killTarget));
  if (wants('hostdown'))
    rows.push(row('host switched off → replicas running on the others', 's', cell('hostdown'), swarmOnly));
  if (wants('frozen'))
    rows.push(row('host frozen → replicas running on the others', 's', cell('frozen'), hostTarget));
  if (wants('cutoff'))
    rows.push(row('host cut off → replicas running on the others', 's', cell('cutoff'), hostTarget));
  if (wants('rollout'))
    rows.push(row('rolling update of 12 replicas, parallelism 3, delay 0', 's', cell('rollout'), both));
  if (git) {
    rows.push(row('commit → converged, webhook', 's', { heal: git.webhook }));
    rows.push(row('commit → converged, polling (default interval)', 's', { heal: git.polling }));
  }
  rows.push(...meshRows);
  if (idle) {
    rows.push(
      row('daemon idle, 3 hosts: resident memory', 'MB', { heal: idle.rssMB }, (heal) => ({
        text: '< 100 MB',
        met: heal !== null && heal < 100,
      })),
    );
    rows.push(
      row('daemon idle, 3 hosts: CPU over 60 s', '% core', { heal: idle.cpuPercent }, (heal) => ({
        text: '< 1%',
        met: heal !== null && heal < 1,
      })),
    );
  }
  return rows;
}

/** A row from its cells: the medians, each run and each extra (prefixed by its column) in `extra`. */
function row(name: string, unit: string, cells: Cells, target?: Target): ResultRow {
  const extra: Record<string, number> = {};
  for (const column of ['heal', 'swarm', 'floor'] as const) {
    const sample = cells[column];
    if (!sample) continue;
    sample.runs.forEach((value, index) => (extra[`${column}#${index + 1}`] = value));
    if (sample.runs.length > 1) extra[`${column}.max`] = Math.max(...sample.runs);
    for (const [key, value] of Object.entries(sample.extra ?? {})) extra[`${column}.${key}`] = value;
  }
  const value = (column: keyof Cells): number | null => cells[column]?.value ?? null;
  return {
    name,
    heal: value('heal'),
    swarm: value('swarm'),
    floor: value('floor'),
    unit,
    ...(Object.keys(extra).length > 0 ? { extra } : {}),
    ...(target ? { target: target(value('heal'), value('swarm'), value('floor'), cells) } : {}),
  };
}

/** Pulls `image` on every host that lacks it (so no measurement pays a pull); returns those hosts. */
async function ensureImage(env: TestbedEnv, image: string): Promise<string[]> {
  const pulled: string[] = [];
  for (const host of HOSTS) {
    const present = await docker(env, host, ['image', 'inspect', image]).then(
      () => true,
      () => false,
    );
    if (present) continue;
    await docker(env, host, ['pull', '--quiet', image]);
    pulled.push(host);
  }
  return pulled;
}
