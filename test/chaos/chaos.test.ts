/**
 * The chaos suite (test/chaos/README.md): `heal watch` on four hosts keeps a stack of three
 * services and fifteen replicas while faults are injected one after another, each measured from
 * outside heal. `npm test` runs the short mode; `npm run chaos` (HEAL_CHAOS=full) every fault and
 * ten SIGKILL points. HEAL_CHAOS_SEED=N replays a run's random choices.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestbed, testbed } from '../testbed.js';
import { dockerAt, killStartedWatches } from '../e2e/watch-helpers.js';
import { faults } from './faults.js';
import { Chaos } from './harness.js';
import { renderTable, writeResults } from './report.js';
import { HOSTS, STACK } from './stack.js';
import { cleanStack } from '../e2e/helpers.js';

const FULL = process.env.HEAL_CHAOS === 'full';
const SEED = Number(process.env.HEAL_CHAOS_SEED ?? Date.now() % 1_000_000);

// HEAL_CHAOS_ONLY=TEXT,TEXT: only the faults whose name contains one of them (while working on them).
const ONLY = process.env.HEAL_CHAOS_ONLY?.split(',');
// A partial run never overwrites the full run's results.
const RESULTS = fileURLToPath(
  new URL(
    `../../bench/results/${ONLY ? 'chaos-only' : FULL ? 'chaos' : 'chaos-short'}.json`,
    import.meta.url,
  ),
);
const chosen = faults(FULL ? 5 : 1).filter((fault) =>
  ONLY ? ONLY.some((text) => fault.name.includes(text)) : FULL || fault.short,
);

let chaos: Chaos;
let root: string;

/** Containers without heal's labels that an earlier run of this suite left (bystanders, squatters). */
async function removeLeftovers(): Promise<void> {
  for (const host of HOSTS) {
    const lines = (
      await dockerAt(chaos.env, host, [
        'ps',
        '-a',
        '--filter',
        'name=^chaos-',
        '--format',
        '{{.ID}} {{.Label "io.heal.stack"}}',
      ])
    )
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' '));
    const ids = lines.filter(([, stack]) => !stack).map(([id]) => id!);
    if (ids.length > 0) await dockerAt(chaos.env, host, ['rm', '-f', ...ids]);
  }
}

/** Brings back whatever a failed fault left broken, so that the clean-up reaches every host. */
async function repairBed(): Promise<void> {
  await testbed('start-registry').catch(() => undefined);
  for (const line of (await testbed('status')).split('\n').filter(Boolean)) {
    const [host = '', how = ''] = line.split(' ');
    if (!/^h\d+$/.test(host)) continue;
    if (how.includes('killed')) await testbed('revive', host);
    if (how.includes('frozen')) await testbed('thaw', host);
    if (how.includes('hung')) await testbed('unhang-engine', host);
    if (how.includes('cut')) await testbed('mend', host);
    if (how.includes('rekeyed')) await testbed('restore-key', host);
    if (how.includes('revoked')) await testbed('grant', host);
  }
}

beforeAll(async () => {
  const env = await ensureTestbed(4);
  root = mkdtempSync(join(tmpdir(), 'heal-chaos-'));
  chaos = new Chaos(env, root, SEED);
  await cleanStack(HOSTS, STACK);
  await removeLeftovers();
  await chaos.setUp();
  await chaos.waitFor([], 180_000);
  console.log(`chaos: ${FULL ? 'full' : 'short'} run, seed ${SEED}, ${chosen.length} faults`);
}, 300_000);

afterAll(async () => {
  killStartedWatches();
  await chaos?.monitor.stop();
  if (chaos) {
    console.log(renderTable(chaos.records));
    writeResults(RESULTS, FULL ? 'full' : 'short', SEED, chaos.records);
    if (process.env.HEAL_E2E_LOGS)
      writeFileSync(join(process.env.HEAL_E2E_LOGS, 'chaos-daemon.log'), chaos.output());
  }
  await repairBed();
  // Docker 20.10 now and then fails to remove a container it is killing ("Removal In Progress",
  // overlay2 "device or resource busy"): one more try, then say so rather than fail the suite.
  await cleanStack(HOSTS, STACK).catch(async () => {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await cleanStack(HOSTS, STACK).catch((error: Error) => console.warn(`chaos clean-up: ${error.message}`));
  });
  if (chaos) {
    await chaos.bystanders.removeAll();
    await removeLeftovers();
  }
  // The other files share a bed of three hosts.
  await testbed('up', '3');
  if (root) rmSync(root, { recursive: true, force: true });
}, 300_000);

describe('heal watch under faults', () => {
  it('prints no secret in heal config, plan, ps or status on the stack it keeps', async () => {
    const commands = [['config'], ['plan'], ['plan', '--json'], ['ps'], ['status'], ['status', '--json']];
    // Read-only commands, run at once (one after the other took ~30 s on a loaded machine).
    const runs = await Promise.all(commands.map((args) => chaos.cli(args)));
    commands.forEach((args, index) => {
      const { code, output } = runs[index]!;
      expect(code, `heal ${args.join(' ')}:\n${output}`).toBe(0);
      expect(chaos.countSecrets(output), `heal ${args.join(' ')}`).toBe(0);
    });
    // The scan can see a secret: the spec's files hold them.
    expect(chaos.countSecrets(readFileSync(chaos.files.envFile, 'utf8'))).toBe(1);
  }, 300_000);

  for (const fault of chosen) {
    it(
      fault.name,
      async () => {
        const record = await fault.run(chaos);
        expect({ ...record, notes: undefined }, record.notes.join('\n')).toMatchObject({
          injected: true,
          survived: true,
          duplicates: 0,
          orphans: 0,
          unmanagedTouched: 0,
          secretsLogged: 0,
          leaked: 0,
          belowMinimumSeconds: 0,
        });
      },
      400_000,
    );
  }
});
