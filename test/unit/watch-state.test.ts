import { describe, expect, it } from 'vitest';
import type { ObservedHost } from '../../src/planner/observed.js';
import { HostStates } from '../../src/watch/host-states.js';
import { Reconciler } from '../../src/watch/reconciler.js';
import { MAX_BACKOFF_MS, RESET_AFTER_MS, Restarts } from '../../src/watch/restarts.js';
import type { Service } from '../../src/spec/types.js';

function host(name: string, reachable: boolean): ObservedHost {
  return {
    name,
    host: { name, kind: 'docker', url: 'unix:///x', labels: {}, role: 'manager' },
    reachable,
    error: reachable ? null : 'timeout',
    engine: null,
    containers: [],
    totalContainers: 0,
    foreignPorts: [],
    networks: [],
    volumes: [],
    images: [],
    marks: [],
    stackKeys: [],
  };
}

describe('HostStates', () => {
  it('makes a silent host suspect at once and down after host_down_after, and up when it answers', () => {
    const states = new HostStates(5_000);
    expect(
      states.update([host('h1', true), host('h2', true), host('h3', true)], 0).changes.map((c) => c.to),
    ).toEqual(['up', 'up', 'up']);
    const silent = states.update([host('h1', true), host('h2', true), host('h3', false)], 1_000);
    expect(silent).toMatchObject({ suspect: ['h3'], partitioned: false, nextChangeAt: 6_000 });
    expect(silent.changes).toEqual([{ name: 'h3', from: 'up', to: 'suspect', error: 'timeout' }]);
    expect(states.update([host('h1', true), host('h2', true), host('h3', false)], 5_999).suspect).toEqual([
      'h3',
    ]);
    const down = states.update([host('h1', true), host('h2', true), host('h3', false)], 6_000);
    expect(down).toMatchObject({ suspect: [], nextChangeAt: null });
    expect(down.changes).toEqual([{ name: 'h3', from: 'suspect', to: 'down', error: 'timeout' }]);
    const back = states.update([host('h1', true), host('h2', true), host('h3', true)], 9_000);
    expect(back.changes).toEqual([{ name: 'h3', from: 'down', to: 'up', error: null }]);
  });

  it('counts from the moment a connection was lost, not from the next look', () => {
    const states = new HostStates(5_000);
    states.update([host('h1', true), host('h2', true)], 0);
    states.lost('h2', 1_000, 'closed');
    expect(states.update([host('h1', true), host('h2', false)], 4_000).nextChangeAt).toBe(6_000);
  });

  it('counts a host found silent from its last answer, so a frozen host is down host_down_after after it froze', () => {
    const states = new HostStates(4_000);
    states.update([host('h1', true), host('h2', true), host('h3', true)], 0);
    // Its last answer was at 1 s; the look that finds it silent comes at 3 s.
    const silent = states.update([host('h1', true), host('h2', true), host('h3', false)], 3_000, (name) =>
      name === 'h3' ? 1_000 : 3_000,
    );
    expect(silent.nextChangeAt).toBe(5_000);
    expect(states.update([host('h1', true), host('h2', true), host('h3', false)], 5_000).changes).toEqual([
      { name: 'h3', from: 'suspect', to: 'down', error: 'timeout' },
    ]);
  });

  it('never backdates so far that one failed look declares a host down', () => {
    const states = new HostStates(4_000);
    states.update([host('h1', true), host('h2', true)], 0);
    // A last answer a minute old (nobody asked): suspect for a quarter of host_down_after at least.
    const silent = states.update([host('h1', true), host('h2', false)], 60_000, () => 0);
    expect(silent).toMatchObject({ suspect: ['h2'], nextChangeAt: 61_000 });
  });

  it('counts a silence the heartbeat noticed from the last answer it had', () => {
    const states = new HostStates(4_000);
    states.update([host('h1', true), host('h2', true)], 0);
    states.lost('h2', 3_500, 'the engine has not answered for 3 s', 500);
    expect(states.downAt('h2')).toBe(4_500);
  });

  it('declares nothing down when more than half of the hosts fall silent together', () => {
    const states = new HostStates(1_000);
    states.update([host('h1', true), host('h2', true), host('h3', true)], 0);
    states.update([host('h1', true), host('h2', false), host('h3', false)], 100);
    const later = states.update([host('h1', true), host('h2', false), host('h3', false)], 5_000);
    expect(later).toMatchObject({ partitioned: true, suspect: ['h2', 'h3'] });
  });

  it('counts only hosts up recently: with two hosts down for maintenance, one more silent host is declared down', () => {
    const states = new HostStates(1_000, 60_000);
    const fleet = (...silent: string[]) =>
      ['h1', 'h2', 'h3', 'h4', 'h5'].map((name) => host(name, !silent.includes(name)));
    states.update(fleet(), 0);
    states.update(fleet('h4', 'h5'), 1_000);
    // h4 and h5 have been down for two minutes: they no longer count.
    expect(states.update(fleet('h4', 'h5'), 121_000)).toMatchObject({ partitioned: false, suspect: [] });
    states.update(fleet('h3', 'h4', 'h5'), 122_000);
    const blip = states.update(fleet('h3', 'h4', 'h5'), 123_000);
    expect(blip).toMatchObject({ partitioned: false, suspect: [] });
    expect(blip.changes).toEqual([{ name: 'h3', from: 'suspect', to: 'down', error: 'timeout' }]);
  });

  it('still holds back when more than half of the hosts up recently fall silent, however many were down before', () => {
    const states = new HostStates(1_000, 60_000);
    const fleet = (...silent: string[]) =>
      ['h1', 'h2', 'h3', 'h4', 'h5'].map((name) => host(name, !silent.includes(name)));
    states.update(fleet(), 0);
    states.update(fleet('h5'), 1_000);
    states.update(fleet('h5'), 200_000);
    states.update(fleet('h2', 'h3', 'h4', 'h5'), 201_000);
    const later = states.update(fleet('h2', 'h3', 'h4', 'h5'), 205_000);
    // Three of the four hosts up recently: held back; h5, long down, stays down.
    expect(later).toMatchObject({ partitioned: true, suspect: ['h2', 'h3', 'h4'] });
  });

  it('keeps holding back through a partition longer than the recent window', () => {
    const states = new HostStates(1_000, 60_000);
    const fleet = (...silent: string[]) =>
      ['h1', 'h2', 'h3'].map((name) => host(name, !silent.includes(name)));
    states.update(fleet(), 0);
    states.update(fleet('h2', 'h3'), 1_000);
    expect(states.update(fleet('h2', 'h3'), 600_000)).toMatchObject({
      partitioned: true,
      suspect: ['h2', 'h3'],
    });
    // Mended: the guard lifts with it.
    expect(states.update(fleet(), 601_000)).toMatchObject({ partitioned: false, suspect: [] });
  });
});

function service(
  restartPolicy: Partial<Service['deploy']['restartPolicy']> = {},
  { name = 'web', configHash = 'c1', replicas = 3 } = {},
): Service {
  return {
    name,
    configHash,
    deploy: {
      mode: 'replicated',
      replicas,
      restartPolicy: { condition: 'any', delay: 0, maxAttempts: 0, window: 0, ...restartPolicy },
    },
  } as Service;
}

const WEB = service();

describe('Restarts', () => {
  it('backs off 1 s, 2 s, 4 s ... up to the cap after each restart', () => {
    const restarts = new Restarts();
    const services = { web: WEB };
    expect(restarts.notBefore(services, 0)).toEqual({});
    const gaps: number[] = [];
    let now = 0;
    for (let attempt = 0; attempt < 8; attempt += 1) {
      restarts.record(WEB, 1, now);
      const due = restarts.notBefore(services, now)['web.1']!;
      gaps.push(due - now);
      now = due;
    }
    expect(gaps).toEqual([
      1_000,
      2_000,
      4_000,
      8_000,
      16_000,
      MAX_BACKOFF_MS,
      MAX_BACKOFF_MS,
      MAX_BACKOFF_MS,
    ]);
  });

  it('calls a service crash-looping after 3 restarts within a minute', () => {
    const restarts = new Restarts();
    restarts.record(WEB, 1, 0);
    restarts.record(WEB, 1, 1_000);
    expect(restarts.crashLooping('web', 1_000)).toBe(false);
    restarts.record(WEB, 1, 3_000);
    expect(restarts.crashLooping('web', 3_000)).toBe(true);
    expect(restarts.crashLooping('web', 70_000)).toBe(false);
  });

  it('forgets a slot once its replica stays up', () => {
    const restarts = new Restarts();
    restarts.record(WEB, 1, 0);
    restarts.record(WEB, 1, 1_000);
    restarts.running('web', 1, 1_500, 1_500 + RESET_AFTER_MS - 1);
    expect(restarts.notBefore({ web: WEB }, 2_000)).toEqual({ 'web.1': 3_000 });
    restarts.running('web', 1, 1_500, 1_500 + RESET_AFTER_MS);
    expect(restarts.notBefore({ web: WEB }, 2_000)).toEqual({});
  });

  it('gives up after max_attempts within the window', () => {
    const restarts = new Restarts();
    const web = service({ maxAttempts: 2, window: 60_000 });
    const services = { web };
    restarts.record(web, 1, 0);
    restarts.record(web, 1, 10_000);
    expect(restarts.notBefore(services, 20_000)['web.1']).toBe(Number.POSITIVE_INFINITY);
    expect(restarts.notBefore(services, 65_000)['web.1']).toBeUndefined();
  });

  it('gives up after max_attempts with no window, until the replica stays up', () => {
    const restarts = new Restarts();
    const web = service({ maxAttempts: 3 });
    for (const at of [0, 100_000, 200_000]) restarts.record(web, 1, at);
    expect(restarts.notBefore({ web }, 10_000_000)['web.1']).toBe(Number.POSITIVE_INFINITY);
  });

  it('keeps only the restarts the policy can still count, however long a replica crashes', () => {
    const restarts = new Restarts();
    const web = service({ maxAttempts: 0, window: 0 });
    for (let attempt = 0; attempt < 10_000; attempt += 1) restarts.record(web, 1, attempt * 30_000);
    // The restarts of the last minute (crash-looping counts them); nothing older.
    expect(restarts.snapshot()).toEqual({
      'web.1': {
        count: 10_000,
        last: 9_999 * 30_000,
        recent: [9_997 * 30_000, 9_998 * 30_000, 9_999 * 30_000],
      },
    });
  });

  it('forgets the slots of a service that left the spec, and slots above its replicas', () => {
    const restarts = new Restarts();
    const web = service({}, { replicas: 3 });
    const api = service({}, { name: 'api' });
    restarts.record(web, 1, 0);
    restarts.record(web, 3, 0);
    restarts.record(api, 1, 0);
    expect(Object.keys(restarts.snapshot())).toEqual(['web.1', 'web.3', 'api.1']);
    restarts.prune({ web: service({}, { replicas: 2 }) });
    expect(Object.keys(restarts.snapshot())).toEqual(['web.1']);
    expect(restarts.notBefore({ web: service({}, { replicas: 2 }) }, 500)).toEqual({ 'web.1': 1_000 });
  });

  it('lifts max_attempts reached once the spec changes the service: its config or its restart_policy', () => {
    const restarts = new Restarts();
    const web = service({ maxAttempts: 1 });
    restarts.record(web, 1, 0);
    expect(restarts.notBefore({ web }, 5_000)['web.1']).toBe(Number.POSITIVE_INFINITY);
    // Another spec: the same service with another config starts from zero.
    const changed = service({ maxAttempts: 1 }, { configHash: 'c2' });
    expect(restarts.notBefore({ web: changed }, 5_000)).toEqual({});
    expect(restarts.snapshot()).toEqual({});
    restarts.record(changed, 1, 6_000);
    expect(restarts.notBefore({ web: changed }, 7_000)['web.1']).toBe(Number.POSITIVE_INFINITY);
    const morePatient = service({ maxAttempts: 5 }, { configHash: 'c2' });
    expect(restarts.notBefore({ web: morePatient }, 7_000)).toEqual({});
  });
});

describe('Reconciler', () => {
  it('never overlaps runs and folds triggers that arrive meanwhile into one more run', async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    let release: () => void = () => undefined;
    const reconciler = new Reconciler(async () => {
      runs += 1;
      running += 1;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => (release = resolve));
      running -= 1;
      return { retryAt: null };
    });
    reconciler.trigger();
    for (let i = 0; i < 5; i += 1) reconciler.trigger();
    release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    release();
    await reconciler.stop();
    expect({ runs, most }).toEqual({ runs: 2, most: 1 });
  });
});
