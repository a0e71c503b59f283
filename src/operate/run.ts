import type { Duplex } from 'node:stream';
import { prepareContainer, pullImage } from '../executor/containers.js';
import { DockerApiError } from '../executor/errors.js';
import { writeCall, type HostClient } from '../executor/host-client.js';
import { neededNetworks, neededVolumes, networkCreate, volumeCreate } from '../planner/engine-objects.js';
import type { CreateSpec } from '../planner/plan-types.js';
import type { Service, Stack } from '../spec/types.js';
import { joinTerminal, type Terminal } from './attach.js';

export type RunRequest = {
  readonly spec: CreateSpec;
  readonly tty: boolean;
  readonly interactive: boolean;
  readonly terminal: Terminal;
  /** Aborts the one-off: it is stopped as docker stop does (the grace period, then SIGKILL), then removed. */
  readonly signal: AbortSignal;
};

/**
 * Runs a one-off to its end on one host, joined to the terminal, and removes it whatever
 * happened: makes the stack's networks and volumes the service needs if the host has none yet,
 * pulls the image if the host does not have it, attaches before the start so that no output is
 * lost. Returns the command's exit code.
 */
export async function runOneOff(
  client: HostClient,
  stack: Stack,
  service: Service,
  request: RunRequest,
): Promise<number> {
  await prepareHost(client, stack, service);
  const id = await created(client, stack, service, request.spec);
  try {
    const container = client.docker.getContainer(id);
    const stream = (await client.call('attach', () =>
      container.attach({
        stream: true,
        stdin: request.interactive,
        stdout: true,
        stderr: true,
        hijack: true,
      }),
    )) as Duplex;
    const joined = joinTerminal(stream, request.terminal, {
      tty: request.tty,
      interactive: request.interactive,
      demux: (from, stdout, stderr) => client.docker.modem.demuxStream(from, stdout, stderr),
      resize: (size) => container.resize(size),
    });
    await client.call('start', () => container.start(), writeCall());
    // Like docker stop: the stop signal, then SIGKILL after the grace period (a PID 1 such as
    // `sleep` ignores SIGTERM and SIGINT).
    const grace = Math.ceil(service.stopGracePeriod / 1000);
    const stop = (): void =>
      void client
        .call('stop one-off', () => container.stop({ t: grace }), { ...writeCall(), extraMs: grace * 1000 })
        .catch(() => undefined);
    request.signal.addEventListener('abort', stop, { once: true });
    try {
      await joined;
      // No deadline: a migration takes as long as it takes; the stream's end says it has ended.
      const waited = (await container.wait()) as { StatusCode?: number };
      return waited.StatusCode ?? 1;
    } finally {
      request.signal.removeEventListener('abort', stop);
    }
  } finally {
    await client
      .call('remove one-off', () => client.docker.getContainer(id).remove({ force: true }), writeCall())
      .catch(() => undefined);
  }
}

/** The stack's networks and volumes the service uses, made on a host that has none of them yet. */
async function prepareHost(client: HostClient, stack: Stack, service: Service): Promise<void> {
  const [networks, volumes] = await Promise.all([
    client.call('listNetworks', (docker, abortSignal) => docker.listNetworks({ abortSignal })),
    client.call('listVolumes', (docker, abortSignal) => docker.listVolumes({ abortSignal })),
  ]);
  const haveNetworks = new Set(networks.map((network) => network.Name));
  const haveVolumes = new Set((volumes.Volumes ?? []).map((volume) => volume.Name));
  for (const name of neededNetworks(stack, [service])) {
    const config = networkCreate(stack, name);
    if (haveNetworks.has(config.Name)) continue;
    await client.call(
      `create network ${config.Name}`,
      (docker) => docker.createNetwork(config as never),
      writeCall(),
    );
  }
  for (const name of neededVolumes(stack, [service])) {
    const config = volumeCreate(stack, name);
    if (haveVolumes.has(config.Name)) continue;
    await client.call(
      `create volume ${config.Name}`,
      async (docker) => {
        await docker.createVolume(config as never);
      },
      writeCall(),
    );
  }
}

/** Created, pulling the image first when the host does not have it (as docker run does). */
async function created(
  client: HostClient,
  stack: Stack,
  service: Service,
  spec: CreateSpec,
): Promise<string> {
  try {
    return await prepareContainer(client, spec, stack, service.name);
  } catch (error) {
    // 404 on the create itself is the image (a network or file copy failing says its own name).
    if (!(error instanceof DockerApiError) || error.status !== 404 || !error.operation.startsWith('create '))
      throw error;
    await pullImage(client, spec.body.Image);
    return prepareContainer(client, spec, stack, service.name);
  }
}
