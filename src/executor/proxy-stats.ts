import { proxySocketOnHost } from '../mesh/names.js';
import type { Stack } from '../spec/types.js';
import type { HostClient } from './host-client.js';
import { reloadsOnly } from './mesh-file.js';
import { runtimeLine } from './mesh-socket.js';

/**
 * One service's proxy on one host, as its runtime API's `show stat` counts it, summed over the
 * backends (one per listener): `sessions`, cumulative (each request a session when clients open
 * a connection per request, each transaction in `app_protocol: http`); `inflight`, sessions on
 * the servers now plus those queued for one.
 */
export type ProxySample = { readonly sessions: number; readonly inflight: number };

/** Reads a service's proxy on a host; throws with why when it cannot. */
export async function readProxyStats(
  client: HostClient,
  stack: Stack,
  service: string,
): Promise<ProxySample> {
  if (reloadsOnly(client))
    throw new Error(
      `the mesh proxy of ${service} on ${client.host.name} has no runtime socket to count requests`,
    );
  const text = await runtimeLine(
    client,
    proxySocketOnHost(stack.name, service),
    'show stat',
    stack.heal.timeouts.readMs,
  );
  return parseShowStat(text);
}

/** Sums the BACKEND rows of `show stat`'s CSV (its header line names the columns). */
export function parseShowStat(text: string): ProxySample {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const header = lines[0]?.replace(/^#\s*/, '').split(',') ?? [];
  const column = (name: string): number => header.indexOf(name);
  const [sv, stot, scur, qcur] = [column('svname'), column('stot'), column('scur'), column('qcur')];
  if (sv < 0 || stot < 0 || scur < 0 || qcur < 0)
    throw new Error(`show stat answered without its columns: ${text.slice(0, 120).trim()}`);
  let sessions = 0;
  let inflight = 0;
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    if (cells[sv] !== 'BACKEND') continue;
    sessions += Number(cells[stot]) || 0;
    inflight += (Number(cells[scur]) || 0) + (Number(cells[qcur]) || 0);
  }
  return { sessions, inflight };
}
