import { describe, expect, it } from 'vitest';
import { parseTailOption, parseTimeOption } from '../../src/cli/time-option.js';
import { chooseReplica, parseReplicaRef } from '../../src/operate/choose-replica.js';
import type { Replica } from '../../src/operate/targets.js';
import { LABEL } from '../../src/planner/labels.js';
import { oneOffCreate, oneOffHost } from '../../src/planner/one-off.js';
import { plan } from '../../src/planner/plan.js';
import { brief, deployed, stackOf, T0, T1 } from './plan-helpers.js';
import { emptyWorld, ownedContainer, withContainers } from './simulate.js';

const SERVICES = `
services:
  web:
    image: web:v1
    ports: [{ target: 8080, published: 8080, mode: host }]
    environment: { GREETING: hello }
    healthcheck: { test: ['CMD', 'true'] }
    deploy: { replicas: 2, placement: { constraints: ["node.labels.zone == a"] } }
`;

describe('a one-off of heal run', () => {
  it("takes the service's config, with no slot, port, alias, restart or healthcheck", async () => {
    const stack = await stackOf(SERVICES);
    const made = oneOffCreate(stack, stack.services.web!, {
      host: 'h1',
      now: T0,
      command: ['./migrate', '--up'],
      tty: false,
      interactive: true,
    });
    expect(made.query.name).toBe(`app-web-run-${T0.toString(36)}`);
    expect(made.body.Cmd).toEqual(['./migrate', '--up']);
    expect(made.body.Env).toContain('GREETING=hello');
    expect(made.body.Labels[LABEL.role]).toBe('one-off');
    expect(made.body.Labels[LABEL.slot]).toBeUndefined();
    expect(made.body.Labels[LABEL.stack]).toBe('app');
    expect(made.body.HostConfig.PortBindings).toBeUndefined();
    expect(made.body.HostConfig.RestartPolicy).toEqual({ Name: 'no' });
    expect(made.body.Healthcheck).toEqual({ Test: ['NONE'] });
    expect(Object.values(made.body.NetworkingConfig!.EndpointsConfig).map((e) => e.Aliases)).toEqual([[]]);
    expect(made.body.OpenStdin).toBe(true);
    expect(made.waitHealthy).toBe(false);
  });

  it('is never a replica to a plan, and goes with the stack on heal down', async () => {
    const stack = await stackOf(SERVICES);
    const world = deployed(stack);
    const oneOff = {
      ...ownedContainer(stack, { service: 'web', slot: 0, host: 'h1', name: 'app-web-run-x', id: 'h1/run' }),
      slot: null,
      labels: { [LABEL.stack]: 'app', [LABEL.service]: 'web', [LABEL.role]: 'one-off' },
    };
    const withOneOff = withContainers(world, [oneOff]);
    const again = plan(stack, withOneOff, { now: T1 });
    expect(brief(again)).toEqual([]);
    expect(again.warnings).toEqual([]);
    const down = plan({ ...stack, services: {} }, withOneOff, { now: T1, allowEmpty: true });
    expect(brief(down).filter((line) => line.includes('app-web-run-x'))).toHaveLength(1);
  });

  it("runs where the service's replicas run, else on the first host that fits, else where asked", async () => {
    const stack = await stackOf(SERVICES);
    const world = deployed(stack);
    const running = world.hosts.find((host) => host.containers.length > 0)!.name;
    expect(oneOffHost(world, stack.services.web!, null)).toBe(running);
    const empty = emptyWorld(stack);
    expect(oneOffHost(empty, stack.services.web!, null)).toBe('h1');
    expect(oneOffHost(empty, stack.services.web!, 'h3')).toBe('h3');
    expect(oneOffHost(empty, stack.services.web!, 'h9')).toEqual({
      error: '--host h9: no such host in x-heal.hosts',
    });
  });
});

const replica = (slot: number, host: string, state: Replica['state'], health: Replica['health']): Replica =>
  ({ service: 'web', slot, host, state, health, name: `app-web-${slot}`, id: `id${slot}` }) as Replica;

describe('exec chooses a replica', () => {
  it('reads SERVICE, SERVICE.SLOT and SERVICE.HOST', () => {
    expect(parseReplicaRef('web')).toEqual({ service: 'web', slot: null, host: null });
    expect(parseReplicaRef('web.3')).toEqual({ service: 'web', slot: 3, host: null });
    expect(parseReplicaRef('agent.h2')).toEqual({ service: 'agent', slot: 0, host: 'h2' });
  });

  it('takes a running healthy replica, lowest slot, and says why when there is none', () => {
    const replicas = [
      replica(1, 'h1', 'running', 'unhealthy'),
      replica(2, 'h2', 'running', 'healthy'),
      replica(3, 'h3', 'exited', 'none'),
    ];
    expect(chooseReplica(replicas, { service: 'web', slot: null, host: null })).toMatchObject({ slot: 2 });
    expect(chooseReplica(replicas, { service: 'web', slot: 1, host: null })).toMatchObject({ slot: 1 });
    expect(chooseReplica(replicas, { service: 'web', slot: 3, host: null })).toEqual({
      error: 'no replica of web.3 is running: app-web-3 on h3 is exited',
    });
    expect(chooseReplica(replicas, { service: 'web', slot: null, host: 'h9' })).toEqual({
      error: 'no replica of web on h9 is there',
    });
  });
});

describe('--since, --until and --tail', () => {
  const now = Date.parse('2026-12-05T18:00:00Z');
  it('reads a duration back from now, a timestamp or a date', () => {
    expect(parseTimeOption('--since', '10m', now)).toBe(now / 1000 - 600);
    expect(parseTimeOption('--since', '1733400000.5', now)).toBe(1733400000.5);
    expect(parseTimeOption('--since', '2026-12-05T17:00:00Z', now)).toBe(now / 1000 - 3600);
    expect(() => parseTimeOption('--since', 'yesterday', now)).toThrow(/--since: "yesterday" is neither/);
  });
  it('reads a count of lines or all', () => {
    expect(parseTailOption('all')).toBeNull();
    expect(parseTailOption('20')).toBe(20);
    expect(() => parseTailOption('-1')).toThrow(/--tail/);
  });
});
