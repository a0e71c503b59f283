import type { Service, Stack } from '../spec/types.js';
import type { ContainerCreateBody } from './container-config.js';
import { buildCreate } from './create.js';
import { hasRole, LABEL, ONE_OFF_ROLE } from './labels.js';
import type { Observed, ObservedContainer } from './observed.js';
import { hostLoad, matchesConstraints } from './placement.js';
import type { CreateSpec } from './plan-types.js';

export type OneOffRequest = {
  readonly host: string;
  /** Epoch ms: names the container and records when it was made. */
  readonly now: number;
  /** Instead of the service's command; empty: the service's own. */
  readonly command: readonly string[];
  readonly tty: boolean;
  readonly interactive: boolean;
};

/**
 * `heal run`'s container: the service's config (image, env, env_file, secrets and configs,
 * networks, volumes, user, resources), made a one-off. Labelled `io.heal.role=one-off` with no
 * slot, so no plan counts, replaces or restarts it; never restarted by the engine; no published
 * port (they belong to the replicas) and no alias (the service's name must keep reaching the
 * replicas, or the mesh's proxy); no healthcheck to wait on.
 */
export function oneOffCreate(stack: Stack, service: Service, request: OneOffRequest): CreateSpec {
  const name = `${stack.name}-${service.name}-run-${request.now.toString(36)}`;
  const made = buildCreate(
    { stack, generation: String(request.now), revision: null, names: new Map() },
    { ...service, containerName: name },
    0,
    request.host,
  );
  const { [LABEL.slot]: _slot, ...labels } = made.body.Labels ?? {};
  const { PortBindings: _ports, ...hostConfig } = made.body.HostConfig;
  const body: ContainerCreateBody = {
    ...made.body,
    ...(request.command.length > 0 ? { Cmd: [...request.command] } : {}),
    Labels: { ...labels, [LABEL.role]: ONE_OFF_ROLE },
    Healthcheck: { Test: ['NONE'] },
    HostConfig: { ...hostConfig, RestartPolicy: { Name: 'no' } },
    ...(made.body.NetworkingConfig
      ? {
          NetworkingConfig: {
            EndpointsConfig: Object.fromEntries(
              Object.entries(made.body.NetworkingConfig.EndpointsConfig).map(([network, endpoint]) => [
                network,
                { ...endpoint, Aliases: [] },
              ]),
            ),
          },
        }
      : {}),
    Tty: request.tty || undefined,
    OpenStdin: request.interactive || undefined,
    StdinOnce: request.interactive || undefined,
  };
  return {
    ...made,
    body,
    extraNetworks: made.extraNetworks.map((network) => ({ ...network, aliases: [] })),
    waitHealthy: false,
  };
}

/**
 * Where a one-off runs: the host asked for; else where the service's replicas run (a healthy
 * one's host, lowest slot), so that it sees the same volumes and neighbours; else the first host
 * that answers and fits the service's placement constraints.
 */
export function oneOffHost(
  observed: Observed,
  service: Service,
  asked: string | null,
): string | { error: string } {
  const up = observed.hosts.filter((host) => host.reachable);
  if (asked !== null) {
    const host = observed.hosts.find((item) => item.name === asked);
    if (!host) return { error: `--host ${asked}: no such host in x-heal.hosts` };
    if (!host.reachable)
      return { error: `--host ${asked}: it does not answer: ${host.error ?? 'unreachable'}` };
    return asked;
  }
  const replicas = up
    .flatMap((host) => host.containers)
    .filter(
      (container) =>
        container.service === service.name &&
        container.slot !== null &&
        !hasRole(container) &&
        container.state === 'running',
    )
    .sort((a, b) => healthRank(a) - healthRank(b) || (a.slot ?? 0) - (b.slot ?? 0));
  if (replicas[0]) return replicas[0].host;
  const fits = [...up]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .find((host) => matchesConstraints(hostLoad(host), service.deploy.placement.constraints));
  if (fits) return fits.name;
  return { error: `no host that answers fits ${service.name}'s placement constraints: pass --host` };
}

function healthRank(container: ObservedContainer): number {
  return container.health === 'healthy' || container.health === 'none' ? 0 : 1;
}
