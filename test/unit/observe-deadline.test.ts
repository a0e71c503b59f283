import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFleet } from '../../src/executor/fleet.js';
import type { HostClient } from '../../src/executor/host-client.js';
import { observe, type Reach } from '../../src/executor/observe.js';
import { loadStack } from '../../src/spec/load.js';
import { stackOf } from './plan-helpers.js';

/**
 * A hung engine, as a wedged dockerd is: its socket accepts connections and answers `/_ping`, and
 * never answers anything else. Reached through heal's real client over a real unix socket.
 */
let folder: string;
let server: Server;
const open = new Set<Socket>();

beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), 'heal-hung-'));
  server = createServer((request, response) => {
    if (request.url?.endsWith('/_ping')) return void response.end('OK');
    // Never answered.
  });
  server.on('connection', (socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(join(folder, 'hung.sock'), resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(folder, { recursive: true, force: true });
});

async function hungStack(read: string) {
  writeFileSync(
    join(folder, 'stack.yml'),
    [
      'name: app',
      'x-heal:',
      `  timeouts: { read: ${read} }`,
      '  hosts:',
      `    h1: { docker: "unix://${join(folder, 'hung.sock')}" }`,
      `    h2: { docker: "unix://${join(folder, 'nobody.sock')}" }`,
      'services:',
      '  web: { image: nginx:1 }',
      '',
    ].join('\n'),
  );
  return loadStack({ file: 'stack.yml', environment: {}, cwd: folder });
}

describe('observe: deadlines', () => {
  it('reports a host whose engine hangs as unreachable by its read deadline, and reads the others', async () => {
    const stack = await hungStack('300ms');
    const fleet = openFleet(stack);
    try {
      const observed = await observe(stack, fleet.reach, Date.now);
      const h1 = observed.hosts.find((host) => host.name === 'h1')!;
      expect(h1.reachable).toBe(false);
      expect(h1.error).toMatch(
        /^host h1 unreachable \(timeout\): the engine did not answer \w+ within 300 ms$/,
      );
      expect(observed.hosts.find((host) => host.name === 'h2')!.error).toMatch(
        /^host h2 unreachable \(refused\)/,
      );
      // The abandoned requests are torn down, not left open on the engine.
      await expect.poll(() => open.size, { timeout: 5_000 }).toBe(0);
    } finally {
      await fleet.close();
    }
  });

  it('names the calls a hung engine has not answered, and forgets them at their deadline', async () => {
    const stack = await hungStack('2s');
    const fleet = openFleet(stack);
    try {
      const reached = await fleet.reach(stack.heal.hosts.h1!);
      const client = (reached as { client: HostClient }).client;
      expect(client.lastAnswer()).not.toBeNull();
      const reading = observe(stack, fleet.reach, Date.now);
      await expect
        .poll(() =>
          client
            .pending()
            .map((call) => call.operation)
            .sort(),
        )
        .toContain('listContainers');
      await reading;
      await expect.poll(() => client.pending(), { timeout: 5_000 }).toEqual([]);
    } finally {
      await fleet.close();
    }
  });

  it('gives a silent host only until answerBy, however long its calls may take', async () => {
    const stack = await stackOf('services:\n  web: { image: nginx:1 }\n');
    const hung = { client: { call: () => new Promise(() => undefined) } as unknown as HostClient } as Reach;
    const observed = await observe(
      stack,
      async (host) => (host.name === 'h2' ? hung : { error: new Error(`${host.name} refused`) }),
      Date.now,
      { answerBy: (name) => (name === 'h2' ? Date.now() + 50 : null) },
    );
    const h2 = observed.hosts.find((host) => host.name === 'h2')!;
    expect(h2.reachable).toBe(false);
    expect(h2.error).toBe('host h2 unreachable (timeout): no answer since it fell silent');
    expect(observed.hosts.find((host) => host.name === 'h1')!.error).toBe('h1 refused');
  });
});
