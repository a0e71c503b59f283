import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SpecError } from '../../src/spec/errors.js';
import { loadStack } from '../../src/spec/load.js';

/* x-heal.conditions and x-heal.hosts.NAME.availability. */

const folder = mkdtempSync(join(tmpdir(), 'heal-conditions-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));
let loads = 0;

async function load(...lines: string[]) {
  loads += 1;
  const file = `stack-${loads}.yml`;
  writeFileSync(
    join(folder, file),
    ['name: t', 'x-heal:', ...lines, 'services:', '  web: { image: nginx }', ''].join('\n'),
  );
  return loadStack({ file, cwd: folder, environment: {} });
}

async function problems(...lines: string[]): Promise<string[]> {
  const outcome = await load(...lines).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(SpecError);
  return (outcome as SpecError).message.split('\n').map((line) => line.replace(/^stack-\d+\.yml:/, ''));
}

describe('x-heal.conditions', () => {
  it("reads thresholds and periods, with Kubernetes' defaults for the rest", async () => {
    const stack = await load(
      '  hosts: { h1: { docker: unix:///d.sock, availability: drain }, h2: { docker: unix:///e.sock } }',
      '  conditions: { memory_available: 5%, disk_available: 2Gi, grace: 2s, drain_after: never }',
    );
    expect(stack.heal.conditions).toEqual({
      grace: 2_000,
      drainAfter: null,
      recover: 300_000,
      deadline: 3_600_000,
      maxParallel: 1,
      memoryAvailable: { percent: 5 },
      diskAvailable: { amount: 2 * 1024 ** 3 },
      inodesFree: { percent: 5 },
      engineSlow: { latency: 2_000, readings: 3, window: 60_000 },
      clockSkew: 2_000,
      pidAvailable: { percent: 5 },
      dying: { services: 3, window: 600_000 },
    });
    expect(stack.heal.hosts.h1!.availability).toBe('drain');
    expect(stack.heal.hosts.h2).not.toHaveProperty('availability');
  });

  it('refuses what is not built yet, and bad values, each with its place', async () => {
    expect(
      await problems(
        '  hosts: { h1: { docker: unix:///d.sock, availability: drained } }',
        '  conditions: { engine_slow: 2s, kernel: oopses, disk_available: 120%, grace: 1m, drain_after: 10s }',
      ),
    ).toEqual([
      '3:56 x-heal.hosts.h1.availability: must be one of active, pause, drain, not "drained"',
      '4:30 x-heal.conditions.engine_slow: must be a mapping, not "2s"',
      "4:34 x-heal.conditions.kernel: is not built yet: heal does not read kernel log patterns (node-problem-detector's)",
      '4:66 x-heal.conditions.disk_available: "120%" is not a share: use a percentage from 0% to 99%',
      '4:96 x-heal.conditions.drain_after: must be at least grace (60s): a host is cordoned first',
    ]);
  });

  it('reads engine_slow, each key optional', async () => {
    const stack = await load(
      '  hosts: { h1: { docker: unix:///d.sock } }',
      '  conditions: { engine_slow: { latency: 500ms, window: 20s } }',
    );
    expect(stack.heal.conditions?.engineSlow).toEqual({ latency: 500, readings: 3, window: 20_000 });
  });

  it('refuses an engine_slow that could never hold or never clear', async () => {
    expect(
      await problems(
        '  hosts: { h1: { docker: unix:///d.sock } }',
        '  conditions: { engine_slow: { latency: -1s, readings: 0, window: 0s } }',
      ),
    ).toEqual([
      '4:41 x-heal.conditions.engine_slow.latency: "-1s" is negative; a duration must be 0 or more',
      '4:56 x-heal.conditions.engine_slow.readings: must be at least 1',
      '4:67 x-heal.conditions.engine_slow.window: must be more than 0s',
    ]);
    expect(
      await problems(
        '  hosts: { h1: { docker: unix:///d.sock } }',
        '  conditions: { engine_slow: { latency: 0s, readings: 2.5, window: 11m, often: 3 } }',
      ),
    ).toEqual([
      '4:41 x-heal.conditions.engine_slow.latency: must be more than 0s',
      '4:55 x-heal.conditions.engine_slow.readings: must be an integer, not 2.5',
      "4:68 x-heal.conditions.engine_slow.window: must be at most 10m: heal keeps that much of each engine's answers",
      '4:73 x-heal.conditions.engine_slow.often: unknown key "often"',
    ]);
  });

  it('reads clock_skew, pid_available and dying', async () => {
    const stack = await load(
      '  hosts: { h1: { docker: unix:///d.sock } }',
      '  conditions: { clock_skew: 500ms, pid_available: 1000, dying: { services: 2, window: 1m } }',
    );
    expect(stack.heal.conditions).toMatchObject({
      clockSkew: 500,
      pidAvailable: { amount: 1000 },
      dying: { services: 2, window: 60_000 },
    });
    const half = await load(
      '  hosts: { h1: { docker: unix:///d.sock } }',
      '  conditions: { pid_available: 10%, dying: { window: 30s } }',
    );
    expect(half.heal.conditions).toMatchObject({
      pidAvailable: { percent: 10 },
      dying: { services: 3, window: 30_000 },
    });
  });

  it('refuses bad clock_skew, pid_available and dying values, each with its place', async () => {
    expect(
      await problems(
        '  hosts: { h1: { docker: unix:///d.sock } }',
        '  conditions: { clock_skew: 0s, pid_available: 150%, dying: { services: 0, window: soon, when: 1 } }',
      ),
    ).toEqual([
      '4:29 x-heal.conditions.clock_skew: must be more than 0s',
      '4:48 x-heal.conditions.pid_available: "150%" is not a share: use a percentage from 0% to 99%',
      '4:73 x-heal.conditions.dying.services: must be at least 1',
      '4:84 x-heal.conditions.dying.window: "soon" is not a duration: use numbers with units, as in "10s" or "1m30s"',
      '4:90 x-heal.conditions.dying.when: unknown key "when"',
    ]);
    expect(
      await problems('  hosts: { h1: { docker: unix:///d.sock } }', '  conditions: { pid_available: -3 }'),
    ).toEqual([expect.stringMatching(/x-heal\.conditions\.pid_available: must be at least 0/)]);
  });
});
