/**
 * plan() on a large fleet: 200 hosts running 50 services of 200 replicas (10,000 containers), all
 * placed and running, a few of them dirty. Times the planner alone (median of runs, ms) and the
 * heap it leaves behind (MB). Pure CPU: no test bed needed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LABEL } from '../src/planner/labels.js';
import type { Observed, ObservedContainer, ObservedHost } from '../src/planner/observed.js';
import { plan } from '../src/planner/plan.js';
import type { Plan } from '../src/planner/plan-types.js';
import { loadStack } from '../src/spec/load.js';
import type { Stack } from '../src/spec/types.js';

export type BenchRow = { readonly name: string; readonly value: number; readonly unit: string };

export type PlanBenchSize = {
  readonly hosts: number;
  readonly services: number;
  readonly replicas: number;
  /** Containers (spread over the fleet) whose config hash is an old one: each is a replace. */
  readonly dirty: number;
  readonly runs: number;
};

export const FULL_SIZE: PlanBenchSize = { hosts: 200, services: 50, replicas: 200, dirty: 100, runs: 5 };

/** The synthetic stack and what its hosts report: every slot placed, running, clean but `dirty`. */
export async function planBenchInput(size: PlanBenchSize): Promise<{ stack: Stack; observed: Observed }> {
  const folder = mkdtempSync(join(tmpdir(), 'heal-plan-bench-'));
  try {
    writeFileSync(join(folder, 'stack.yml'), specText(size));
    const stack = await loadStack({ file: 'stack.yml', environment: {}, cwd: folder });
    return { stack, observed: observedFleet(stack, size) };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

function specText(size: PlanBenchSize): string {
  const hosts = range(size.hosts).map(
    (index) =>
      `    ${hostName(index)}: { ssh: 10.${index >> 8}.${index & 255}.1, labels: { zone: z${index % 4} } }`,
  );
  const services = range(size.services).flatMap((index) => [
    `  ${serviceName(index)}:`,
    `    image: registry.example.com/s${index}:v1`,
    `    environment: { INDEX: "${index}" }`,
    ...(index % 5 === 0 ? [`    ports: [{ target: 80, published: ${8000 + index}, mode: host }]`] : []),
    `    deploy:`,
    `      replicas: ${size.replicas}`,
    `      update_config: { parallelism: 10 }`,
  ]);
  return ['name: fleet', 'x-heal:', '  hosts:', ...hosts, 'services:', ...services, ''].join('\n');
}

function observedFleet(stack: Stack, size: PlanBenchSize): Observed {
  const containers = new Map<string, ObservedContainer[]>(
    range(size.hosts).map((index) => [hostName(index), []]),
  );
  let count = 0;
  for (const [serviceIndex, service] of Object.values(stack.services).entries()) {
    for (let slot = 1; slot <= size.replicas; slot += 1) {
      const host = hostName((serviceIndex + slot) % size.hosts);
      // Every stride-th container is dirty, so they spread over services and hosts.
      const stride = size.dirty === 0 ? 0 : Math.floor((size.services * size.replicas) / size.dirty);
      const dirty = stride > 0 && count % stride === 0 && count / stride < size.dirty;
      count += 1;
      const name = `${stack.name}-${service.name}-${slot}`;
      containers.get(host)!.push({
        id: `${host}-${name}`,
        name,
        host,
        image: service.image,
        labels: {
          [LABEL.stack]: stack.name,
          [LABEL.service]: service.name,
          [LABEL.slot]: String(slot),
          [LABEL.configHash]: dirty ? 'v1:old' : service.configHash,
          [LABEL.generation]: '1000',
        },
        service: service.name,
        slot,
        configHash: dirty ? 'v1:old' : service.configHash,
        state: 'running',
        health: 'none',
        exitCode: null,
        createdAt: 1000,
        startedAt: 1000,
        finishedAt: null,
      });
    }
  }
  const network = stack.networks.default?.engineName;
  return {
    hosts: range(size.hosts).map((index): ObservedHost => {
      const name = hostName(index);
      const here = containers.get(name)!;
      return {
        name,
        host: stack.heal.hosts[name]!,
        reachable: true,
        error: null,
        engine: { name, version: '20.10.24', os: 'linux', arch: 'x86_64', cpus: 4, memory: 8e9, labels: {} },
        containers: here,
        totalContainers: here.length + 3,
        foreignPorts: [],
        networks: network === undefined ? [] : [network],
        volumes: [],
        images: [...new Set(here.map((container) => container.image))].sort(),
        marks: [],
        stackKeys: [],
      };
    }),
  };
}

/** Times plan() on the synthetic fleet; `size` defaults to the full 10,000 containers. */
export async function benchPlan(size: PlanBenchSize = FULL_SIZE): Promise<{ rows: BenchRow[]; plan: Plan }> {
  const { stack, observed } = await planBenchInput(size);
  const options = { now: 2000 };
  plan(stack, observed, options); // warm-up: the first run also compiles
  const times: number[] = [];
  let last: Plan | null = null;
  let heap = 0;
  for (let run = 0; run < size.runs; run += 1) {
    (globalThis as { gc?: () => void }).gc?.(); // with --expose-gc, the delta is this run's alone
    const before = process.memoryUsage().heapUsed;
    const start = process.hrtime.bigint();
    last = plan(stack, observed, options);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    heap = Math.max(heap, process.memoryUsage().heapUsed - before);
  }
  const containers = observed.hosts.reduce((sum, host) => sum + host.containers.length, 0);
  return {
    plan: last!,
    rows: [
      {
        name: `plan ${containers} containers on ${size.hosts} hosts`,
        value: round(median(times)),
        unit: 'ms',
      },
      { name: 'plan heap used delta', value: round(heap / 2 ** 20), unit: 'MB' },
    ],
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}

function hostName(index: number): string {
  return `h${String(index + 1).padStart(3, '0')}`;
}

function serviceName(index: number): string {
  return `s${String(index + 1).padStart(2, '0')}`;
}
