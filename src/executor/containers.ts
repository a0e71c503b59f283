import type Dockerode from 'dockerode';
import { SECRET_PLACEHOLDER } from '../planner/create.js';
import type { ExtraNetwork, FileMountSpec } from '../planner/container-config.js';
import type { CreateSpec, ExitZero } from '../planner/plan-types.js';
import type { Stack } from '../spec/types.js';
import { DockerApiError } from './errors.js';
import { sleep } from './sleep.js';
import { writeCall, type HostClient } from './host-client.js';
import { registryAuth, RegistryAuthError } from './registry-auth.js';
import { tarOneFile } from './tar.js';

/** An action that could not be done: the sentence says what, on which host. */
export class ActionError extends Error {
  override readonly name = 'ActionError';
}

const POLL_MS = 100;

/** Pulls an image; fails with the registry's own words (`manifest unknown`, connection refused...). */
export async function pullImage(client: HostClient, image: string, signal?: AbortSignal): Promise<void> {
  const auth = await registryAuth(image).catch((error: unknown) => {
    if (error instanceof RegistryAuthError)
      throw new ActionError(`${client.host.name}: pull ${image}: ${error.message}`);
    throw error;
  });
  await client.call(
    `pull ${image}`,
    async (docker, abortSignal) => {
      const stream = (await docker.pull(image, {
        ...(auth ? { authconfig: auth } : {}),
        abortSignal,
      })) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => {
        docker.modem.followProgress(
          stream,
          (error: Error | null, events: { error?: string; errorDetail?: { message?: string } }[]) => {
            const failed = events?.find((event) => event.error);
            if (error) reject(error);
            else if (failed)
              reject(
                new ActionError(
                  `${client.host.name}: pull ${image}: ${failed.errorDetail?.message ?? failed.error}`,
                ),
              );
            else resolve();
          },
        );
      });
    },
    { kind: 'pull', ...(signal ? { signal } : {}) },
  );
}

/**
 * Creates a container exactly as the plan says, puts in its secret and config files, connects
 * its other networks, starts it and waits until it is healthy (or running, without a
 * healthcheck). Returns its id. A container that fails to start is left for the next plan to see.
 */
export async function createAndStart(
  client: HostClient,
  spec: CreateSpec,
  stack: Stack,
  service: string,
  signal?: AbortSignal,
): Promise<string> {
  const id = await prepareContainer(client, spec, stack, service, signal);
  await startContainer(client, id, spec.query.name, signal);
  if (spec.waitHealthy)
    await waitHealthy(client, id, spec.query.name, spec.healthTimeout, signal, spec.exitZero ?? 'failure');
  return id;
}

/**
 * Creates a container exactly as the plan says, with its secret and config files in and its other
 * networks connected, not started. Returns its id.
 */
export async function prepareContainer(
  client: HostClient,
  spec: CreateSpec,
  stack: Stack,
  service: string,
  signal?: AbortSignal,
): Promise<string> {
  const write = writeCall(signal);
  const body = withSecrets(spec, stack, service);
  const { Id: id } = await createContainer(client, spec, body, signal);
  for (const file of spec.files) {
    const content = file.content === undefined ? loadedContent(stack, file) : Buffer.from(file.content);
    const archive = tarOneFile(file.target, content, {
      mode: file.mode ?? 0o444,
      uid: Number(file.uid ?? 0),
      gid: Number(file.gid ?? 0),
    });
    await client.call(
      `copy ${file.kind} ${file.source} into ${spec.query.name}`,
      (docker, abortSignal) => docker.getContainer(id).putArchive(archive, { path: '/', abortSignal }),
      write,
    );
  }
  for (const network of spec.extraNetworks) {
    await client.call(
      `connect ${spec.query.name} to ${network.name}`,
      (docker, abortSignal) =>
        docker.getNetwork(network.name).connect({
          Container: id,
          EndpointConfig: {
            Aliases: [...network.aliases],
            ...endpointAddresses(network),
          },
          // dockerode takes it out of the body before sending; its types do not know it.
          ...{ abortSignal },
        }),
      write,
    );
  }
  return id;
}

/**
 * The bytes of a secret or config as the spec was loaded: never read from the disk again, so a
 * rejected commit's files (or a secret rotated since) never reach a container of the last good spec.
 */
function loadedContent(stack: Stack, file: FileMountSpec): Buffer {
  const objects = file.kind === 'secret' ? stack.secrets : stack.configs;
  const object = objects[file.source];
  if (!object) throw new ActionError(`${file.kind} "${file.source}" is not in the loaded spec`);
  return object.content.bytes();
}

/**
 * Creates the container under the planned name; if a container heal cannot see holds that name
 * (one without the stack's labels), under the name with a short suffix, once. The slot lives in
 * the labels, so the name is only for people.
 */
async function createContainer(
  client: HostClient,
  spec: CreateSpec,
  body: CreateSpec['body'],
  signal?: AbortSignal,
): Promise<{ Id: string }> {
  const create = (name: string) =>
    client.call(
      `create ${name}`,
      (docker, abortSignal) =>
        dial<{ Id: string }>(
          docker,
          '/containers/create?',
          'POST',
          { ...spec.query, name },
          body,
          201,
          abortSignal,
        ),
      writeCall(signal),
    );
  try {
    return await create(spec.query.name);
  } catch (error) {
    if (!(error instanceof DockerApiError) || error.status !== 409) throw error;
    return create(`${spec.query.name}-${Date.now().toString(36)}`);
  }
}

export async function startContainer(
  client: HostClient,
  id: string,
  name: string,
  signal?: AbortSignal,
): Promise<void> {
  await client.call(
    `start ${name}`,
    (docker, abortSignal) =>
      docker
        .getContainer(id)
        .start({ abortSignal })
        // 304: already running.
        .catch(ignoreStatus(304)),
    writeCall(signal),
  );
}

/** Gives a container another name (start-first: the slot's own name, once the old gave it up). */
export async function renameContainer(
  client: HostClient,
  id: string,
  from: string,
  to: string,
  signal?: AbortSignal,
): Promise<void> {
  await client.call(
    `rename ${from} to ${to}`,
    (docker, abortSignal) =>
      docker
        .getContainer(id)
        .rename({ name: to, abortSignal })
        .catch((error: { statusCode?: number }) => {
          // Between the old one's removal and now, a container heal does not own took the name.
          if (error.statusCode === 409)
            throw new ActionError(
              `${client.host.name}: ${from} runs, but could not take the name ${to}: another container holds it`,
            );
          throw error;
        }),
    writeCall(signal),
  );
}

/** Unpauses a container paused by hand; one no longer paused (409) is what was wanted. */
export async function unpauseContainer(
  client: HostClient,
  id: string,
  name: string,
  signal?: AbortSignal,
): Promise<void> {
  await client.call(
    `unpause ${name}`,
    (docker, abortSignal) => docker.getContainer(id).unpause({ abortSignal }).catch(ignoreStatus(409)),
    writeCall(signal),
  );
}

/** Stops with the container's own stop signal and grace period, then removes it with its anonymous volumes. */
export async function stopAndRemove(
  client: HostClient,
  container: { id: string; name: string; stopTimeout: number },
  signal?: AbortSignal,
): Promise<void> {
  const handle = (docker: Dockerode) => docker.getContainer(container.id);
  const write = writeCall(signal);
  await client.call(
    `stop ${container.name}`,
    (docker, abortSignal) =>
      handle(docker).stop({ t: container.stopTimeout, abortSignal }).catch(ignoreStatus(304, 404)),
    // The engine waits out the grace period before it answers.
    { ...write, extraMs: container.stopTimeout * 1000 },
  );
  await client.call(
    `remove ${container.name}`,
    (docker, abortSignal) =>
      handle(docker).remove({ v: true, force: true, abortSignal }).catch(ignoreStatus(404)),
    write,
  );
}

/**
 * Waits until the container is healthy (with a healthcheck) or running (without one); for a
 * one-off job, until it exits 0 (`awaited`), or either (`done`).
 */
export async function waitHealthy(
  client: HostClient,
  id: string,
  name: string,
  timeoutMs: number,
  signal?: AbortSignal,
  exitZero: ExitZero = 'failure',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await client.call(
      `inspect ${name}`,
      (docker, abortSignal) => docker.getContainer(id).inspect({ abortSignal }),
      signal ? { signal } : {},
    );
    const state = info.State;
    const health = state.Health?.Status;
    if (state.Status === 'exited' && state.ExitCode === 0 && exitZero !== 'failure') return;
    if (state.Status === 'exited' || state.Status === 'dead') {
      throw new ActionError(
        `${client.host.name}: ${name} exited with code ${state.ExitCode} right after it started`,
      );
    }
    if (exitZero === 'awaited' && Date.now() > deadline)
      throw new ActionError(
        `${client.host.name}: ${name} has not completed within ${Math.round(timeoutMs / 1000)} s: what depends on it waits for its exit 0`,
      );
    // A job others wait for is done when it exits, not when it runs.
    if (
      exitZero !== 'awaited' &&
      state.Running &&
      (health === undefined || health === 'healthy' || health === '')
    )
      return;
    if (health === 'unhealthy')
      throw new ActionError(`${client.host.name}: ${name} is unhealthy: ${lastProbe(state.Health)}`);
    if (Date.now() > deadline) {
      throw new ActionError(
        `${client.host.name}: ${name} did not become healthy within ${Math.round(timeoutMs / 1000)} s (${health ?? state.Status})`,
      );
    }
    await sleep(POLL_MS, signal);
  }
}

/**
 * Whether someone sent the container a signal (a `kill` event: `docker stop`, `kill`, `rm -f`)
 * since `sinceMs`. A process that exits or crashes by itself has `die` events only, an OOM kill an
 * `oom` one.
 */
export async function signalledSince(
  client: HostClient,
  id: string,
  sinceMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const text = await client.call(
    `events of ${id.slice(0, 12)}`,
    async (docker, abortSignal) => {
      // A past `until` makes the engine send what it has and close the stream.
      const stream = (await docker.getEvents({
        since: Math.floor(sinceMs / 1000) - 1,
        until: Math.ceil(Date.now() / 1000),
        filters: { type: ['container'], container: [id], event: ['kill'] },
        abortSignal,
      })) as NodeJS.ReadableStream;
      let read = '';
      for await (const chunk of stream) read += chunk.toString();
      return read;
    },
    signal ? { signal } : {},
  );
  return text.trim() !== '';
}

function lastProbe(health: { Log?: { Output?: string; ExitCode?: number }[] } | undefined): string {
  const last = health?.Log?.at(-1);
  if (!last) return 'its healthcheck failed';
  return `healthcheck exit ${last.ExitCode ?? '?'}${last.Output ? `: ${last.Output.trim().slice(0, 200)}` : ''}`;
}

/** The plan stands in for env_file values; the real ones come from the spec loaded now. */
function withSecrets(spec: CreateSpec, stack: Stack, service: string): CreateSpec['body'] {
  if (spec.secretEnv.length === 0 || !spec.body.Env) return spec.body;
  const environment = stack.services[service]?.environment ?? {};
  const env = spec.body.Env.map((entry) => {
    const key = entry.slice(0, entry.indexOf('='));
    if (entry !== `${key}=${SECRET_PLACEHOLDER}`) return entry;
    const value = environment[key];
    if (value === undefined || value === null)
      throw new ActionError(`${service}: the secret ${key} is no longer in the spec; plan again`);
    return `${key}=${value}`;
  });
  return { ...spec.body, Env: env };
}

function ignoreStatus(...codes: number[]) {
  return (error: { statusCode?: number }): void => {
    if (error.statusCode === undefined || !codes.includes(error.statusCode)) throw error;
  };
}

/** A raw Engine API call with an exact body and query (dockerode's helpers reshape both). */
function dial<T>(
  docker: Dockerode,
  path: string,
  method: string,
  query: object,
  body: object,
  ok: number,
  abortSignal: AbortSignal,
): Promise<T> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path,
        method,
        abortSignal,
        options: { _query: query, _body: body },
        statusCodes: {
          [ok]: true,
          400: 'bad parameter',
          404: 'no such image',
          409: 'conflict',
          500: 'server error',
        },
      },
      (error: unknown, data: unknown) => (error ? reject(error) : resolve(data as T)),
    );
  });
}

/** The endpoint's fixed addresses, each only when the spec sets it (MacAddress needs API 1.44). */
function endpointAddresses(network: ExtraNetwork): Record<string, unknown> {
  const ipam = {
    ...(network.ipv4Address === null ? {} : { IPv4Address: network.ipv4Address }),
    ...(network.ipv6Address === null ? {} : { IPv6Address: network.ipv6Address }),
  };
  return {
    ...(Object.keys(ipam).length === 0 ? {} : { IPAMConfig: ipam }),
    ...(network.macAddress === null ? {} : { MacAddress: network.macAddress }),
  };
}
