import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseShowStat } from '../../src/executor/proxy-stats.js';
import {
  autoscaledStack,
  decideScale,
  EMPTY_HISTORY,
  type ScaleHistory,
  type ScaleMetrics,
} from '../../src/planner/autoscale.js';
import { parseContainerStats } from '../../src/executor/container-stats.js';
import {
  combineFigures,
  cpuCores,
  intervalFigures,
  usageFigures,
} from '../../src/planner/autoscale-figures.js';
import type { Observed, ScaleMark } from '../../src/planner/observed.js';
import { plan } from '../../src/planner/plan.js';
import { statusRows } from '../../src/planner/status.js';
import type { Autoscale } from '../../src/spec/autoscale.js';
import { SpecError } from '../../src/spec/errors.js';
import { changes, deployed, stackOf, T0 } from './plan-helpers.js';
import { withHost } from './simulate.js';

const POLICY: Autoscale = {
  min: 2,
  max: 10,
  responseTime: 200,
  requestsPerSecond: null,
  cpu: null,
  memory: null,
  interval: 15_000,
  tolerance: 0.1,
  scaleUp: { replicas: 4, percent: 100 },
  scaleDownWindow: 300_000,
  cooldown: 0,
};

const figures = (
  responseTime: number | null,
  replicas: number,
  missing: string | null = null,
): ScaleMetrics => ({
  responseTime,
  requestRate: responseTime === null ? null : 10,
  cpuCores: null,
  memoryBytes: null,
  replicas,
  missing,
});

describe('decideScale: HPA on the mesh figures', () => {
  it('scales up by the ratio to the target, and says why', () => {
    const decision = decideScale(POLICY, 3, EMPTY_HISTORY, figures(420, 3), T0, null);
    expect(decision).toMatchObject({
      replicas: 7,
      changed: true,
      reason: 'response time 420 ms > 200 ms target',
    });
  });

  it('holds within the tolerance', () => {
    const decision = decideScale(POLICY, 3, EMPTY_HISTORY, figures(215, 3), T0, null);
    expect(decision).toMatchObject({
      replicas: 3,
      changed: false,
      reason: 'response time 215 ms ≈ 200 ms target',
    });
  });

  it('adds at most the larger of scale_up.replicas and scale_up.percent at once', () => {
    expect(decideScale(POLICY, 2, EMPTY_HISTORY, figures(2000, 2), T0, null).replicas).toBe(6);
    const wide = { ...POLICY, max: 40, scaleUp: { replicas: 1, percent: 50 } };
    expect(decideScale(wide, 10, EMPTY_HISTORY, figures(2000, 10), T0, null).replicas).toBe(15);
  });

  it('scales down only to the highest recommendation of the window', () => {
    const policy = { ...POLICY, scaleDownWindow: 60_000 };
    let history: ScaleHistory = { recommendations: [{ at: T0, replicas: 6 }], lastChange: null };
    const first = decideScale(policy, 6, history, figures(50, 6), T0 + 15_000, null);
    expect(first).toMatchObject({ replicas: 6, changed: false });
    expect(first.reason).toContain('held by the scale-down window');
    history = first.history;
    const later = decideScale(policy, 6, history, figures(50, 6), T0 + 61_000, null);
    expect(later).toMatchObject({
      replicas: 2,
      changed: true,
      reason: 'response time 50 ms < 200 ms target for 60 s',
    });
  });

  it('after a restart (no history) waits a whole window before scaling down', () => {
    const policy = { ...POLICY, scaleDownWindow: 30_000 };
    const first = decideScale(policy, 5, EMPTY_HISTORY, figures(10, 5), T0, null);
    expect(first.changed).toBe(false);
    expect(decideScale(policy, 5, first.history, figures(10, 5), T0 + 15_000, null).changed).toBe(false);
    expect(decideScale(policy, 5, first.history, figures(10, 5), T0 + 31_000, null)).toMatchObject({
      replicas: 2,
      changed: true,
    });
  });

  it('never moves on missing figures, during a rollout, or in the cooldown', () => {
    expect(decideScale(POLICY, 3, EMPTY_HISTORY, null, T0, null)).toMatchObject({
      changed: false,
      reason: 'no figures yet',
    });
    expect(
      decideScale(
        POLICY,
        3,
        EMPTY_HISTORY,
        figures(null, 3, 'the proxy on h2 did not answer: timeout'),
        T0,
        null,
      ),
    ).toMatchObject({
      changed: false,
      reason: 'no decision on incomplete figures: the proxy on h2 did not answer: timeout',
    });
    expect(decideScale(POLICY, 3, EMPTY_HISTORY, figures(900, 3), T0, 'rolling out')).toMatchObject({
      changed: false,
      reason: 'rolling out',
    });
    const cooling = { ...POLICY, cooldown: 60_000 };
    expect(
      decideScale(cooling, 3, { recommendations: [], lastChange: T0 }, figures(900, 3), T0 + 30_000, null)
        .changed,
    ).toBe(false);
    expect(
      decideScale(cooling, 3, { recommendations: [], lastChange: T0 }, figures(900, 3), T0 + 61_000, null)
        .changed,
    ).toBe(true);
  });

  it('takes the highest recommendation of several targets', () => {
    const both = { ...POLICY, requestsPerSecond: 5 };
    const decision = decideScale(
      both,
      2,
      EMPTY_HISTORY,
      { responseTime: 100, requestRate: 30, cpuCores: null, memoryBytes: null, replicas: 2, missing: null },
      T0,
      null,
    );
    expect(decision).toMatchObject({ replicas: 6, reason: '15 req/s per replica > 5.0 target' });
  });

  it('brings a count outside [min, max] inside at once (the spec changed them)', () => {
    expect(decideScale(POLICY, 12, EMPTY_HISTORY, null, T0, 'rolling out')).toMatchObject({
      replicas: 10,
      changed: true,
      reason: 'max is 10',
    });
  });
});

describe('decideScale: CPU and memory per replica', () => {
  const usage = (cpu: number | null, memory: number | null, replicas: number): ScaleMetrics =>
    combineFigures(replicas, null, { cpuCores: cpu, memoryBytes: memory, missing: null });
  const MiB = 1024 ** 2;

  it('scales by cores per replica, and by a percent of the reservation', () => {
    const cores = { ...POLICY, responseTime: null, cpu: { amount: 0.5, percent: null } };
    expect(decideScale(cores, 2, EMPTY_HISTORY, usage(0.92, null, 2), T0, null)).toMatchObject({
      replicas: 4,
      changed: true,
      reason: 'cpu 0.92 cores > 0.50 cores target',
    });
    const share = {
      ...POLICY,
      responseTime: null,
      memory: { amount: 0.8 * 256 * MiB, percent: { value: 80, of: 'reservation' as const } },
    };
    expect(decideScale(share, 2, EMPTY_HISTORY, usage(null, 0.85 * 256 * MiB, 2), T0, null)).toMatchObject({
      replicas: 2,
      changed: false,
      reason: 'memory 85% ≈ 80% target',
    });
    expect(decideScale(share, 2, EMPTY_HISTORY, usage(null, 256 * MiB, 2), T0, null)).toMatchObject({
      replicas: 3,
      reason: 'memory 100% > 80% target',
    });
  });

  it('takes the highest of memory and the mesh targets, and waits for every figure', () => {
    const both = { ...POLICY, memory: { amount: 200 * MiB, percent: null } };
    const mesh = figures(100, 2);
    const full = combineFigures(2, mesh, { cpuCores: null, memoryBytes: 500 * MiB, missing: null });
    expect(decideScale(both, 2, EMPTY_HISTORY, full, T0, null)).toMatchObject({
      replicas: 5,
      reason: 'memory 500 MiB > 200 MiB target',
    });
    // Memory asked for and not read: no decision, never a scale-down on the mesh figure alone.
    expect(decideScale(both, 6, EMPTY_HISTORY, combineFigures(6, mesh, null), T0, null)).toMatchObject({
      replicas: 6,
      changed: false,
    });
    const partial = combineFigures(2, mesh, {
      cpuCores: null,
      memoryBytes: null,
      missing: 'replica abc did not answer: timeout',
    });
    expect(decideScale(both, 2, EMPTY_HISTORY, partial, T0, null)).toMatchObject({
      changed: false,
      reason: 'no decision on incomplete figures: replica abc did not answer: timeout',
    });
  });
});

describe('the CPU and memory figures', () => {
  const reading = (at: number, cpuNs: number, memoryBytes: number) => ({ at, cpuNs, memoryBytes });

  it('counts cores as CPU time over wall-clock time between two readings', () => {
    expect(cpuCores(reading(T0, 1e9, 0), reading(T0 + 2_000, 2e9, 0))).toBe(0.5);
    expect(cpuCores(reading(T0, 5e9, 0), reading(T0 + 2_000, 1e9, 0))).toBeNull();
    expect(cpuCores(reading(T0, 1e9, 0), reading(T0, 2e9, 0))).toBeNull();
  });

  it('averages over the replicas serving, and says what is missing rather than guess', () => {
    const looks = [
      { at: T0, replicas: { a: reading(T0, 0, 100), b: reading(T0, 0, 300) } },
      { at: T0 + 4_000, replicas: { a: reading(T0 + 4_000, 4e9, 100), b: reading(T0 + 4_000, 2e9, 500) } },
    ];
    // a: 1 core, b: 0.5 core; memory (200 + 300) / 2.
    expect(usageFigures(looks, 2_000)).toEqual({ cpuCores: 0.75, memoryBytes: 250, missing: null });
    expect(usageFigures(looks.slice(0, 1), 0).missing).toBe(
      'fewer than two readings of the replicas this interval',
    );
    expect(
      usageFigures([looks[0]!, { at: T0 + 4_000, replicas: { a: { error: 'timeout' } } }], 2_000).missing,
    ).toBe('replica a did not answer: timeout');
    expect(
      usageFigures([looks[0]!, { at: T0 + 4_000, replicas: { c: reading(T0 + 4_000, 1, 1) } }], 2_000)
        .missing,
    ).toBe('replica c was not read the whole interval');
  });

  it('reads memory as docker stats does: usage minus the inactive page cache (cgroup v1 and v2)', () => {
    const v2 = {
      read: '2026-12-06T17:46:24.203399128Z',
      cpu_stats: { cpu_usage: { total_usage: 150 } },
      memory_stats: { usage: 1000, stats: { inactive_file: 300 } },
    };
    expect(parseContainerStats(v2, 7)).toEqual({
      at: Date.parse('2026-12-06T17:46:24.203Z'),
      cpuNs: 150,
      memoryBytes: 700,
    });
    const v1 = {
      read: '0001-01-01T00:00:00Z',
      cpu_stats: { cpu_usage: { total_usage: 9 } },
      memory_stats: { usage: 1000, stats: { total_inactive_file: 100 } },
    };
    expect(parseContainerStats(v1, 7)).toEqual({ at: 7, cpuNs: 9, memoryBytes: 900 });
    expect(() => parseContainerStats({ memory_stats: {} }, 7)).toThrow(/no CPU or memory figures/);
  });
});

describe('decideScale: properties', () => {
  const policies = fc
    .record({
      min: fc.integer({ min: 1, max: 5 }),
      span: fc.integer({ min: 0, max: 10 }),
      tolerance: fc.double({ min: 0, max: 0.5, noNaN: true }),
      window: fc.integer({ min: 0, max: 600_000 }),
      step: fc.integer({ min: 1, max: 5 }),
    })
    .map(({ min, span, tolerance, window, step }): Autoscale => ({
      ...POLICY,
      min,
      max: min + span,
      tolerance,
      scaleDownWindow: window,
      scaleUp: { replicas: step, percent: 0 },
    }));
  const inputs = fc.array(
    fc.record({
      gap: fc.integer({ min: 1_000, max: 60_000 }),
      time: fc.option(fc.double({ min: 0, max: 5_000, noNaN: true }), { nil: null }),
      busy: fc.boolean(),
    }),
    { maxLength: 30 },
  );

  /** Runs a sequence of decisions as the daemon does and returns each count. */
  const run = (
    policy: Autoscale,
    start: number,
    steps: readonly { gap: number; time: number | null; busy: boolean }[],
  ): number[] => {
    let now = T0;
    let current = start;
    let history = EMPTY_HISTORY;
    const counts: number[] = [];
    for (const step of steps) {
      now += step.gap;
      const decision = decideScale(
        policy,
        current,
        history,
        figures(step.time, current),
        now,
        step.busy ? 'rolling out' : null,
      );
      history = decision.changed ? { ...decision.history, lastChange: now } : decision.history;
      current = decision.replicas;
      counts.push(current);
    }
    return counts;
  };

  it('always stays within [min, max], and is deterministic', () => {
    fc.assert(
      fc.property(policies, fc.integer({ min: 1, max: 20 }), inputs, (policy, start, steps) => {
        const counts = run(policy, start, steps);
        for (const count of counts.slice(1)) expect(count >= policy.min && count <= policy.max).toBe(true);
        if (counts.length > 0) expect(counts[0]! >= policy.min && counts[0]! <= policy.max).toBe(true);
        expect(run(policy, start, steps)).toEqual(counts);
      }),
    );
  });

  it('never changes a count within bounds during a rollout or on missing figures', () => {
    fc.assert(
      fc.property(policies, fc.integer({ min: 0, max: 10 }), fc.boolean(), (policy, offset, busy) => {
        const current = Math.min(policy.max, policy.min + offset);
        const input = busy ? figures(4_000, current) : figures(null, current, 'a proxy did not answer');
        const decision = decideScale(policy, current, EMPTY_HISTORY, input, T0, busy ? 'rolling out' : null);
        expect(decision).toMatchObject({ replicas: current, changed: false });
      }),
    );
  });

  it('is stable under an oscillating load: never scales down while it swings faster than the window', () => {
    fc.assert(
      fc.property(
        policies.filter((policy) => policy.scaleDownWindow >= 60_000),
        fc.double({ min: 300, max: 3_000, noNaN: true }),
        fc.double({ min: 0, max: 150, noNaN: true }),
        fc.integer({ min: 4, max: 40 }),
        (policy, high, low, rounds) => {
          // High and low alternate every 15 s: a period far inside the window.
          const steps = Array.from({ length: rounds }, (_, index) => ({
            gap: 15_000,
            time: index % 2 === 0 ? high : low,
            busy: false,
          }));
          const counts = run(policy, policy.min, steps);
          for (let index = 1; index < counts.length; index += 1)
            expect(counts[index]!).toBeGreaterThanOrEqual(counts[index - 1]!);
        },
      ),
    );
  });
});

describe('the figures of an interval', () => {
  it('reads the backends of show stat', () => {
    const text =
      '# pxname,svname,qcur,qmax,scur,smax,slim,stot\n' +
      'web_8080,FRONTEND,,,3,9,,120\n' +
      'web_8080,h1-s1-abc,0,0,2,5,,60\n' +
      'web_8080,BACKEND,1,2,2,5,,100\n' +
      'web_9090,BACKEND,0,0,1,1,,7\n';
    expect(parseShowStat(text)).toEqual({ sessions: 107, inflight: 4 });
  });

  it("gives the rate from the sessions' growth and the response time by Little's law", () => {
    const looks = [
      { at: T0, hosts: { h1: { sessions: 100, inflight: 4 }, h2: { sessions: 50, inflight: 2 } } },
      { at: T0 + 5_000, hosts: { h1: { sessions: 125, inflight: 4 }, h2: { sessions: 75, inflight: 2 } } },
      { at: T0 + 10_000, hosts: { h1: { sessions: 150, inflight: 4 }, h2: { sessions: 100, inflight: 2 } } },
    ];
    // 100 requests in 10 s = 10/s; 6 in flight on average → 600 ms each.
    expect(intervalFigures(looks, 3, 5_000)).toEqual({
      responseTime: 600,
      requestRate: 10,
      cpuCores: null,
      memoryBytes: null,
      replicas: 3,
      missing: null,
    });
  });

  it('says what is missing rather than guess', () => {
    const one = { at: T0, hosts: { h1: { sessions: 100, inflight: 0 } } };
    expect(intervalFigures([one], 1, 0).missing).toBe('fewer than two looks at the proxies this interval');
    expect(
      intervalFigures([one, { at: T0 + 9_000, hosts: { h1: { sessions: 3, inflight: 0 } } }], 1, 5_000)
        .missing,
    ).toBe('the proxy on h1 restarted');
    expect(
      intervalFigures([one, { at: T0 + 9_000, hosts: { h1: { error: 'timeout' } } }], 1, 5_000).missing,
    ).toBe('the proxy on h1 did not answer: timeout');
    expect(
      intervalFigures([one, { at: T0 + 9_000, hosts: { h1: { sessions: 100, inflight: 0 } } }], 1, 5_000),
    ).toEqual({
      responseTime: 0,
      requestRate: 0,
      cpuCores: null,
      memoryBytes: null,
      replicas: 1,
      missing: null,
    });
  });
});

const SERVICE = (extra: string, deploy = ''): string =>
  `services:\n  web:\n    image: web:v1\n    ports: ["80:8080"]\n${deploy}    x-heal-autoscale:\n${extra}`;

async function specProblems(body: string): Promise<string[]> {
  const error = await stackOf(body).then(
    () => null,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(SpecError);
  return (error as SpecError).message.split('\n').map((line) => line.replace(/^.*stack\.yml:/, ''));
}

describe('x-heal-autoscale in the spec', () => {
  it('reads the keys, with defaults, and starts at min without deploy.replicas', async () => {
    const stack = await stackOf(SERVICE('      min: 2\n      max: 6\n      response_time: 250ms\n'));
    expect(stack.services.web?.deploy.replicas).toBe(2);
    expect(stack.services.web?.deploy.autoscale).toEqual({
      min: 2,
      max: 6,
      responseTime: 250,
      requestsPerSecond: null,
      cpu: null,
      memory: null,
      interval: 15_000,
      tolerance: 0.1,
      scaleUp: { replicas: 4, percent: 100 },
      scaleDownWindow: 300_000,
      cooldown: 0,
    });
    const plain = await stackOf('services:\n  web:\n    image: web:v1\n    ports: ["80:8080"]\n');
    // Autoscaling is no part of what a container is made from.
    expect(stack.services.web?.configHash).toBe(plain.services.web?.configHash);
  });

  it('refuses what it cannot honour, each with its place', async () => {
    expect(
      await specProblems(
        SERVICE(
          '      min: 5\n      max: 3\n      cpu: 70%\n      scale_down: { window: 1m, period: 2 }\n',
          '    deploy: { replicas: 4 }\n',
        ),
      ),
    ).toEqual([
      '16:12 services.web.x-heal-autoscale.max: must be at least min (5)',
      "17:12 services.web.x-heal-autoscale.cpu: is a percent of each replica's CPU reservation or limit, and the service sets neither: set deploy.resources.reservations.cpus (or limits.cpus), or give cores such as 0.5",
      '18:33 services.web.x-heal-autoscale.scale_down.period: unknown key "period"',
    ]);
  });

  it('reads cpu and memory as amounts per replica or as a percent of the reservation, else the limit', async () => {
    const stack = await stackOf(
      'services:\n  web:\n    image: web:v1\n' +
        '    deploy: { resources: { reservations: { cpus: "0.5" }, limits: { cpus: "2", memory: 512m } } }\n' +
        '    x-heal-autoscale: { min: 1, max: 4, cpu: 70%, memory: 80% }\n' +
        '  api:\n    image: web:v1\n    x-heal-autoscale: { min: 1, max: 4, cpu: 0.5, memory: 200Mi }\n',
    );
    // No mesh needed: the figures are the replicas' Engine stats.
    expect(stack.services.web?.deploy.autoscale).toMatchObject({
      cpu: { amount: 0.35, percent: { value: 70, of: 'reservation' } },
      memory: { amount: 0.8 * 512 * 1024 ** 2, percent: { value: 80, of: 'limit' } },
    });
    expect(stack.services.api?.deploy.autoscale).toMatchObject({
      cpu: { amount: 0.5, percent: null },
      memory: { amount: 200 * 1024 ** 2, percent: null },
    });
    const { toCompose } = await import('../../src/spec/to-compose.js');
    const compose = toCompose(stack) as { services: Record<string, Record<string, Record<string, unknown>>> };
    expect(compose.services.web?.['x-heal-autoscale']).toMatchObject({ cpu: '70%', memory: '80%' });
    expect(compose.services.api?.['x-heal-autoscale']).toMatchObject({ cpu: 0.5, memory: 200 * 1024 ** 2 });
  });

  it('refuses a percent without a reservation or limit, and amounts that are not', async () => {
    const problems = (
      await specProblems(
        'services:\n  web:\n    image: web:v1\n    x-heal-autoscale: { min: 1, max: 4, memory: 80%, cpu: 0 }\n' +
          '  api:\n    image: web:v1\n    x-heal-autoscale: { min: 1, max: 4, memory: lots }\n',
      )
    ).join('\n');
    expect(problems).toContain(
      "services.web.x-heal-autoscale.memory: is a percent of each replica's memory reservation or limit, and the service sets neither: set deploy.resources.reservations.memory (or limits.memory), or give bytes such as 200Mi",
    );
    expect(problems).toContain('services.web.x-heal-autoscale.cpu: must be at least 0.001');
    expect(problems).toContain('services.api.x-heal-autoscale.memory: "lots" is not a byte size');
    expect(problems).not.toContain('needs a target');
  });

  it('refuses min 0, a missing target, and a service the mesh does not serve', async () => {
    const problems = await specProblems(
      'services:\n  web:\n    image: web:v1\n    x-heal-autoscale: { min: 0, max: 3, response_time: 200ms }\n' +
        '  api:\n    image: web:v1\n    ports: ["81:8080"]\n    x-heal-autoscale: { min: 1, max: 3 }\n' +
        '  db:\n    image: web:v1\n    ports: ["82:8080"]\n    deploy: { replicas: 9 }\n    x-heal-autoscale: { min: 1, max: 3, requests_per_second: 5 }\n',
    );
    expect(problems.join('\n')).toContain(
      'services.web.x-heal-autoscale.min: must be at least 1: scaling to zero is not built yet',
    );
    expect(problems.join('\n')).toContain(
      'services.web.x-heal-autoscale: response_time and requests_per_second are measured by the routing mesh',
    );
    expect(problems.join('\n')).toContain('services.api.x-heal-autoscale: needs a target');
    expect(problems.join('\n')).toContain(
      'services.db.x-heal-autoscale: deploy.replicas (9) must lie within min (1) and max (3)',
    );
  });
});

describe('the count on the hosts drives the plan', () => {
  const mark = (
    host: string,
    replicas: number,
    at: number,
    reason = 'response time 420 ms > 200 ms target',
  ): ScaleMark => ({
    name: `app_heal-scale_web_${at}`,
    host,
    service: 'web',
    replicas,
    reason,
    at,
  });
  const withMarks = (world: Observed, marks: Record<string, ScaleMark[]>): Observed =>
    Object.entries(marks).reduce((acc, [host, scales]) => withHost(acc, host, { scales }), world);

  it('places up to the newest recorded count, and drains down to a lower one', async () => {
    const stack = await stackOf(SERVICE('      min: 1\n      max: 5\n      response_time: 200ms\n'));
    const world = deployed(stack);
    const up = withMarks(world, { h1: [mark('h1', 1, T0 + 1)], h2: [mark('h2', 4, T0 + 2)] });
    const grown = plan(stack, up, { now: T0 + 10 });
    expect(grown.autoscaled).toEqual([
      {
        service: 'web',
        replicas: 4,
        start: 1,
        min: 1,
        max: 5,
        reason: 'response time 420 ms > 200 ms target',
        at: T0 + 2,
      },
    ]);
    expect(changes(grown).filter((line) => line.includes(' create '))).toHaveLength(3);
    expect(statusRows(stack, up)[0]).toMatchObject({
      desired: 4,
      autoscale: { replicas: 4, min: 1, max: 5 },
    });

    const four = deployed(stack, up, T0 + 10);
    const down = withMarks(four, {
      h3: [mark('h3', 2, T0 + 99, 'response time 20 ms < 200 ms target for 300 s')],
    });
    const shrunk = plan(stack, down, { now: T0 + 100 });
    const removes = shrunk.actions.filter((action) => action.kind === 'remove');
    expect(removes.map((action) => action.slot).sort()).toEqual([3, 4]);
    expect(removes[0]?.reason).toContain(
      'scaled down to 2 (autoscaled: response time 20 ms < 200 ms target for 300 s)',
    );
    // The highest slots go; the mesh drains them as any removal (planner-mesh.test.ts).
  });

  it('keeps a recorded count inside the bounds the spec says now', async () => {
    const stack = await stackOf(SERVICE('      min: 2\n      max: 3\n      response_time: 200ms\n'));
    const world = withMarks(deployed(stack), { h1: [mark('h1', 9, T0 + 5)] });
    expect(autoscaledStack(stack, world).autoscaled[0]?.replicas).toBe(3);
  });
});

describe('how autoscaling reads in plan and status', () => {
  it('prints the change with its reason, and the count held', async () => {
    const { autoscaleLines, autoscaleStatusLines } = await import('../../src/cli/render-autoscale.js');
    const stack = await stackOf(
      SERVICE('      min: 2\n      max: 12\n      response_time: 200ms\n', '    deploy: { replicas: 3 }\n'),
    );
    const world = withHost(deployed(stack), 'h1', {
      scales: [
        {
          name: 'app_heal-scale_web_1',
          host: 'h1',
          service: 'web',
          replicas: 7,
          reason: 'response time 420 ms > 200 ms target',
          at: T0,
        },
      ],
    });
    expect(autoscaleLines(plan(stack, world, { now: T0 + 1 }))).toEqual([
      `web: replicas 3 → 7 (autoscaled within [2, 12]: response time 420 ms > 200 ms target, at ${new Date(T0).toISOString()})`,
    ]);
    expect(autoscaleStatusLines(statusRows(stack, deployed(stack)))).toEqual([
      'web: autoscaled within [2, 12], at its start of 3',
    ]);
  });
});

describe('scale marks the spec has moved past', () => {
  it('are removed in the clean-up when the service is no longer autoscaled, and by heal down', async () => {
    const stack = await stackOf('services:\n  web:\n    image: web:v1\n    ports: ["80:8080"]\n');
    const mark: ScaleMark = {
      name: 'app_heal-scale_web_5',
      host: 'h2',
      service: 'web',
      replicas: 4,
      reason: 'x',
      at: 5,
    };
    const world = withHost(deployed(stack), 'h2', { scales: [mark] });
    for (const made of [
      plan(stack, world, { now: T0 + 1 }),
      plan({ ...stack, services: {} }, world, { now: T0 + 1, allowEmpty: true }),
    ]) {
      const removal = made.actions.find((action) => action.kind === 'remove-volume');
      expect(removal).toMatchObject({
        host: 'h2',
        volume: 'app_heal-scale_web_5',
        reason: 'web is not autoscaled any more: its recorded count of 4 goes',
      });
    }
    const autoscaled = await stackOf(SERVICE('      min: 1\n      max: 5\n      response_time: 200ms\n'));
    expect(
      plan(autoscaled, withHost(deployed(autoscaled), 'h2', { scales: [mark] }), {
        now: T0 + 1,
      }).actions.some((action) => action.kind === 'remove-volume'),
    ).toBe(false);
  });
});
