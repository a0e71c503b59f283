import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { apply, type ApplyReport } from '../../executor/apply.js';
import type { Fleet } from '../../executor/fleet.js';
import type { Plan } from '../../planner/plan-types.js';
import type { Stack } from '../../spec/types.js';
import { parseDuration } from '../../spec/syntax/duration.js';
import { EXIT, UsageError } from '../errors.js';
import { withFleetOptions, withLockedFleet, type FleetCliOptions } from '../fleet-options.js';
import { observeAndPlan, withPlanOptions, type PlanCliOptions, type SavedPlan } from '../planning.js';
import { progress, rolloutLine } from '../progress.js';
import { describe, hasChanges, paintFor, renderPlan, type Paint } from '../render-plan.js';
import { loadFromOptions, withSpecOptions, type SpecOptions } from '../spec-options.js';

type Options = SpecOptions & FleetCliOptions & PlanCliOptions & { yes?: boolean; lockWait?: string };

/** Thrown when the user answers no, or a saved plan no longer matches the world. */
export class ApplyRefused extends Error {
  override readonly name = 'ApplyRefused';
}

export function applyCommand(): Command {
  return withPlanOptions(withFleetOptions(withSpecOptions(new Command('apply'))))
    .description('make the hosts match the spec: show the plan, ask, then do it')
    .argument('[plan]', 'a plan saved by `heal plan -o FILE`: applied only if nothing changed since')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--lock-wait <duration>', 'wait this long for another heal working on the stack (e.g. 2m)', '0s')
    .action(async (savedFile: string | undefined, options: Options) => {
      const lockWait = parseDuration(options.lockWait ?? '0s');
      if ('error' in lockWait) throw new UsageError(`--lock-wait: ${lockWait.error}`);
      const saved = savedFile === undefined ? undefined : readSaved(savedFile);
      if (!options.yes && !process.stdin.isTTY) {
        throw new UsageError('refusing to apply without a terminal to confirm on: pass --yes');
      }
      const stack = await loadFromOptions(options);
      const paint = paintFor(process.stdout);
      await withLockedFleet(
        stack,
        options,
        { command: 'heal apply', waitMs: lockWait.value },
        async (fleet, signal) => {
          const { plan, fingerprint } = await observeAndPlan(stack, fleet, options);
          if (saved && saved.fingerprint !== fingerprint) {
            throw new ApplyRefused(
              `${savedFile}: the plan is stale: the spec or the hosts changed since it was made; run heal plan again`,
            );
          }
          process.stdout.write(renderPlan(plan, paint));
          if (plan.refused) return void (process.exitCode = EXIT.failed);
          // Nothing to do is a success only when what runs is what the spec says.
          if (!hasChanges(plan))
            return void (process.exitCode =
              plan.unplaced.length > 0 || plan.held.length > 0 ? EXIT.failed : EXIT.ok);
          if (!options.yes && !(await confirm()))
            throw new ApplyRefused('apply cancelled: nothing was changed');
          const chosen = saved ? saved.plan : plan;
          const report = await apply(chosen, stack, {
            reach: fleet.reach,
            onEvent: progress(process.stdout, paint, chosen),
            signal,
          });
          process.stdout.write(summary(report, plan.unplaced.length, paint));
          if (!report.ok || plan.unplaced.length > 0) process.exitCode = EXIT.failed;
          if (report.rollouts.some((rollout) => rollout.result === 'rolled-back'))
            return void (await rollBack(stack, fleet, options, paint, signal));
          if (report.ok && !saved) await drainOn(stack, fleet, options, paint, signal, chosen);
        },
      );
    });
}

/** A bound on drain rounds: each moves at least one replica, so a host never needs near this many. */
const DRAIN_ROUNDS = 500;

/** The host a plan drains, if any. */
function drainingHost(plan: Plan): string | null {
  return plan.standings?.find((standing) => standing.draining)?.host ?? null;
}

/**
 * A drain moves `max_parallel` replicas per service per plan (start-first: each new one healthy
 * before the old goes); `heal apply` goes on, plan after plan, until the host it drains is empty,
 * the drain is refused, or a round fails. The daemon does the same at each look.
 */
async function drainOn(
  stack: Stack,
  fleet: Fleet,
  options: Options,
  paint: Paint,
  signal: AbortSignal,
  first: Plan,
): Promise<void> {
  const host = drainingHost(first);
  if (host === null) return;
  for (let round = 2; round <= DRAIN_ROUNDS && !signal.aborted; round += 1) {
    const { plan } = await observeAndPlan(stack, fleet, options);
    if (plan.refused || drainingHost(plan) !== host || !hasChanges(plan)) return;
    process.stdout.write(`\n${paint.bold(`The drain of ${host} goes on (round ${round})`)}\n`);
    process.stdout.write(renderPlan(plan, paint));
    const report = await apply(plan, stack, {
      reach: fleet.reach,
      onEvent: progress(process.stdout, paint, plan),
      signal,
    });
    process.stdout.write(summary(report, plan.unplaced.length, paint));
    if (!report.ok || plan.unplaced.length > 0) return void (process.exitCode = EXIT.failed);
  }
}

/**
 * failure_action rollback: the failed config is marked on the hosts, so a fresh plan returns the
 * service to its previous config (by rollback_config). Done at once, without asking: the spec
 * asked for it. Never a success: the spec's config is not what runs.
 */
async function rollBack(
  stack: Stack,
  fleet: Fleet,
  options: Options,
  paint: Paint,
  signal: AbortSignal,
): Promise<void> {
  const { plan } = await observeAndPlan(stack, fleet, options);
  process.stdout.write(`\n${paint.bold('Rolling back')}\n${renderPlan(plan, paint)}`);
  // A rollout that failed before it replaced anything leaves the previous config running.
  const report = hasChanges(plan)
    ? await apply(plan, stack, { reach: fleet.reach, onEvent: progress(process.stdout, paint, plan), signal })
    : null;
  if (report) process.stdout.write(summary(report, plan.unplaced.length, paint));
  const back = [
    ...new Set([
      ...plan.rollouts.filter((rollout) => rollout.kind === 'rollback').map((rollout) => rollout.service),
      ...plan.held.filter((mark) => mark.state === 'rolled-back').map((mark) => mark.service),
    ]),
  ].sort();
  const line =
    (report?.ok ?? true)
      ? `Rolled back ${back.join(', ')} to the previous config; the spec's config is not tried again until it changes.`
      : `The rollback of ${back.join(', ')} did not finish; heal apply again continues it.`;
  process.stdout.write(`${paint.remove(line)}\n`);
  process.exitCode = EXIT.failed;
}

function readSaved(file: string): SavedPlan {
  let saved: SavedPlan;
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as SavedPlan;
  } catch (error) {
    throw new UsageError(`${file}: not a saved plan (${(error as Error).message})`);
  }
  if (saved.version !== 1 || typeof saved.fingerprint !== 'string' || !saved.plan) {
    throw new UsageError(`${file}: not a plan saved by heal plan -o`);
  }
  if (
    !Array.isArray(saved.plan.rollouts) ||
    !Array.isArray(saved.plan.held) ||
    !saved.plan.rollouts.every((rollout) => Array.isArray(rollout.settling))
  ) {
    throw new UsageError(`${file}: saved by an older heal, without its rollouts; run heal plan -o again`);
  }
  return saved;
}

export async function confirm(): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await prompt.question('\nApply these changes? Only "yes" is accepted: ');
    return answer.trim() === 'yes';
  } finally {
    prompt.close();
  }
}

export function summary(report: ApplyReport, unplaced: number, paint: Paint): string {
  const done = report.outcomes.filter((outcome) => outcome.result === 'done').length;
  const failed = report.outcomes.filter((outcome) => outcome.result === 'failed');
  const skipped = report.outcomes.filter((outcome) => outcome.result === 'skipped');
  const lines = [''];
  const head = `Apply ${failed.length + skipped.length === 0 && unplaced === 0 ? 'complete' : 'incomplete'}: ${done} done, ${failed.length} failed, ${skipped.length} skipped in ${(report.ms / 1000).toFixed(1)}s.`;
  lines.push(failed.length + skipped.length + unplaced === 0 ? paint.add(head) : paint.remove(head));
  for (const outcome of failed)
    if (outcome.result === 'failed')
      lines.push(`  failed: ${outcome.action.host} ${describe(outcome.action)}: ${outcome.error}`);
  for (const outcome of skipped)
    if (outcome.result === 'skipped')
      lines.push(`  skipped: ${outcome.action.host} ${describe(outcome.action)}: ${outcome.why}`);
  if (unplaced > 0) lines.push(`  ${unplaced} slot(s) could not be placed (see the plan above).`);
  for (const rollout of report.rollouts) lines.push(`  ${rolloutLine(rollout, paint)}`);
  if (failed.length + skipped.length > 0)
    lines.push('Run heal apply again to finish once the cause is fixed.');
  return `${lines.join('\n')}\n`;
}
