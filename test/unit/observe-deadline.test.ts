import { describe, expect, it } from 'vitest';
import type { HostClient } from '../../src/executor/host-client.js';
import { observe, type Reach } from '../../src/executor/observe.js';
import { stackOf } from './plan-helpers.js';

/** A connection that was made but whose host no longer answers: every call hangs. */
const hung = { client: { call: () => new Promise(() => undefined) } as unknown as HostClient } as Reach;

describe('observe: answerBy', () => {
  it('reports a host that has not answered by its deadline as unreachable, and reads the others', async () => {
    const stack = await stackOf('services:\n  web: { image: nginx:1 }\n');
    const started = Date.now();
    const observed = await observe(
      stack,
      async (host) => (host.name === 'h2' ? hung : { error: new Error(`${host.name} refused`) }),
      Date.now,
      (name) => (name === 'h2' ? Date.now() + 50 : null),
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    const h2 = observed.hosts.find((host) => host.name === 'h2')!;
    expect(h2.reachable).toBe(false);
    expect(h2.error).toBe('host h2 unreachable (timeout): no answer since it fell silent');
    expect(observed.hosts.find((host) => host.name === 'h1')!.error).toBe('h1 refused');
  });

  it('waits for a host without a deadline', async () => {
    const stack = await stackOf('services:\n  web: { image: nginx:1 }\n');
    let settled = false;
    void observe(stack, async () => hung, Date.now).then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
  });
});
