import type { ProxyProtocol } from './types.js';

/**
 * How a proxy checks its members: a TCP connect every `interval`, out after `fall` failures, in
 * after `rise` successes. With 1 s and 2, a dead host's replicas leave every proxy within about
 * 2 s, before heal has even declared the host down. Docker's own healthcheck decides when a
 * replica may enter; this check only catches what heal has not seen yet.
 */
export type HealthSettings = {
  readonly intervalMs: number;
  readonly fall: number;
  readonly rise: number;
};

export const DEFAULT_HEALTH: HealthSettings = { intervalMs: 1000, fall: 2, rise: 1 };

/** The `server` keywords a member gets, in the config file and in `add server` alike. */
export function serverKeywords(health: HealthSettings, proxyProtocol: ProxyProtocol): string {
  const check = `check inter ${health.intervalMs}ms fall ${health.fall} rise ${health.rise}`;
  if (proxyProtocol === 'v1') return `${check} send-proxy`;
  if (proxyProtocol === 'v2') return `${check} send-proxy-v2`;
  return check;
}

/** `10.0.0.11:32768`, or `[fd00::11]:32768` for IPv6. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
