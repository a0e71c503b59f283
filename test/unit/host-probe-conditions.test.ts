import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { countDeaths, parseEvents, readDeaths } from '../../src/executor/deaths.js';
import type { HostClient } from '../../src/executor/host-client.js';
import { parseClock, parsePids, parseProbe, probeCommand } from '../../src/executor/host-probe.js';
import { readConditions } from '../../src/planner/conditions.js';
import type { HostProbe } from '../../src/planner/observed.js';
import { CONDITIONS_DEFAULTS } from '../../src/spec/normalize-conditions.js';

/* ClockSkew, PIDPressure and Dying: the probe's output, the engine's events, and the readings. */

const OUTPUT = [
  'MemTotal:        8000000 kB',
  'MemAvailable:    4000000 kB',
  '---',
  'Filesystem     1024-blocks    Used Available Capacity Mounted on',
  '/dev/sda1        100000000 50000000  50000000      50% /',
  '---',
  'Filesystem       Inodes  IUsed   IFree IUse% Mounted on',
  '/dev/sda1       1000000 100000  900000   10% /',
  '---',
  '4194304',
  '63704',
  '0.52 0.58 0.59 3/612 12345',
  '---',
  '1765040003200000000',
  '',
].join('\n');

describe('the probe', () => {
  it('runs one fixed command with the PID limits and the date', () => {
    expect(probeCommand('/var/lib/docker')).toBe(
      "cat /proc/meminfo && echo --- && df -P -k -- '/var/lib/docker' && echo --- && df -P -i -- '/var/lib/docker' && echo --- && cat /proc/sys/kernel/pid_max /proc/sys/kernel/threads-max /proc/loadavg && echo --- && date +%s%N",
    );
  });

  it('reads PIDs and the clock less half the round trip', () => {
    const probe = parseProbe(OUTPUT, '/var/lib/docker', { sent: 1765040000000, received: 1765040000200 });
    expect(probe.error).toBeNull();
    expect(probe.pids).toEqual({ running: 612, max: 63704 });
    expect(probe.clock).toEqual({ offset: 3100, roundTrip: 200 });
    expect(probe.memory).toEqual({ available: 4000000 * 1024, total: 8000000 * 1024 });
  });

  it('says what it could not read', () => {
    const probe = parseProbe(OUTPUT.replace('3/612', 'x'), '/d', { sent: 0, received: 1 });
    expect(probe.pids).toBeNull();
    expect(probe.error).toBe('pid_max, threads-max or /proc/loadavg unreadable');
    expect(parsePids('4194304\n63704\n')).toBeNull();
    expect(parseClock('Sun Dec 6', { sent: 0, received: 0 })).toBeNull();
  });

  it('counts a second more of uncertainty from a date without nanoseconds', () => {
    expect(parseClock('1765040003N', { sent: 1765040000000, received: 1765040000100 })).toEqual({
      offset: 3450,
      roundTrip: 1100,
    });
  });
});

describe('deaths from the engine events', () => {
  const event = (action: string, id: string, service: string, seconds: number, exitCode?: string) =>
    JSON.stringify({
      Action: action,
      Actor: {
        ID: id,
        Attributes: { 'io.heal.service': service, ...(exitCode === undefined ? {} : { exitCode }) },
      },
      time: seconds,
      timeNano: seconds * 1e9,
    });

  it('counts crashes and OOM kills per service, never a stop someone asked for', () => {
    const text = [
      event('die', 'a', 'web', 50, '1'), // before the window
      event('die', 'a', 'web', 110, '1'),
      event('die', 'a', 'web', 120, '2'),
      event('kill', 'b', 'api', 121),
      event('die', 'b', 'api', 122, '143'), // docker stop
      event('die', 'c', 'db', 123, '0'), // a clean exit
      event('oom', 'd', 'worker', 124),
      event('die', 'd', 'worker', 124, '137'), // the same death as the oom
      'not json',
      '',
    ].join('\n');
    expect(countDeaths(parseEvents(text), 100_000)).toEqual([
      { service: 'web', exits: 2, ooms: 0 },
      { service: 'worker', exits: 0, ooms: 1 },
    ]);
  });

  // On the bed, drain-dying.test.ts reads real events; this pins the bound that keeps each look
  // short: an `until` ahead of the engine's clock holds the call open until then (a second a look).
  it("asks for events up to the engine's own time, never later, and counts from it", async () => {
    const asked: Record<string, unknown>[] = [];
    const docker = {
      getEvents: (options: Record<string, unknown>) => {
        asked.push(options);
        return Promise.resolve(Readable.from([`${event('die', 'a', 'web', 1_000_000, '1')}\n`]));
      },
    };
    const client = {
      call: (_operation: string, run: (docker: unknown, signal: AbortSignal) => Promise<unknown>) =>
        run(docker, new AbortController().signal),
    } as unknown as HostClient;
    const engineNow = 1_000_030_456.7;
    expect(await readDeaths(client, 'shop', 600_000, engineNow)).toEqual([
      { service: 'web', exits: 1, ooms: 0 },
    ]);
    expect(asked).toHaveLength(1);
    expect(asked[0]!.until).toBe(1_000_030.456);
    expect(asked[0]!.since).toBe(1_000_030 - 600 - 60);
    expect(await readDeaths(client, 'shop', 10_000, engineNow)).toEqual([]);
  });
});

describe('the new conditions', () => {
  const base: HostProbe = { memory: null, disk: null, error: null };

  it('PIDPressure below pid_available, a share or a count', () => {
    expect(readConditions({ ...base, pids: { running: 990, max: 1000 } }, CONDITIONS_DEFAULTS)).toEqual([
      { type: 'PIDPressure', message: '10 PIDs available < 5% of 1000' },
    ]);
    expect(readConditions({ ...base, pids: { running: 900, max: 1000 } }, CONDITIONS_DEFAULTS)).toEqual([]);
    const counted = { ...CONDITIONS_DEFAULTS, pidAvailable: { amount: 200 } };
    expect(readConditions({ ...base, pids: { running: 900, max: 1000 } }, counted)).toEqual([
      { type: 'PIDPressure', message: '100 PIDs available < 200' },
    ]);
  });

  it('ClockSkew past the threshold even at the edge of the round trip, either way', () => {
    expect(readConditions({ ...base, clock: { offset: 3200, roundTrip: 40 } }, CONDITIONS_DEFAULTS)).toEqual([
      { type: 'ClockSkew', message: "clock 3.2s ahead of heal's (more than 2s)" },
    ]);
    expect(readConditions({ ...base, clock: { offset: -2500, roundTrip: 20 } }, CONDITIONS_DEFAULTS)).toEqual(
      [{ type: 'ClockSkew', message: "clock 2.5s behind heal's (more than 2s)" }],
    );
    // A slow probe leaves 1.5 s of doubt: 3 s could be 1.5 s.
    expect(
      readConditions({ ...base, clock: { offset: 3000, roundTrip: 3000 } }, CONDITIONS_DEFAULTS),
    ).toEqual([]);
    expect(readConditions({ ...base, clock: { offset: 1900, roundTrip: 0 } }, CONDITIONS_DEFAULTS)).toEqual(
      [],
    );
  });

  it('Dying once containers of enough services died in the window', () => {
    const services = [
      { service: 'api', exits: 2, ooms: 0 },
      { service: 'web', exits: 1, ooms: 0 },
      { service: 'worker', exits: 0, ooms: 3 },
    ];
    expect(readConditions({ ...base, deaths: { window: 600_000, services } }, CONDITIONS_DEFAULTS)).toEqual([
      {
        type: 'Dying',
        message:
          'containers of 3 services died in the last 10m: api (2 exits), web (1 exit), worker (3 OOM kills)',
      },
    ]);
    expect(
      readConditions(
        { ...base, deaths: { window: 600_000, services: services.slice(1) } },
        CONDITIONS_DEFAULTS,
      ),
    ).toEqual([]);
  });
});
