import { readFileSync, readlinkSync } from 'node:fs';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Host } from '../spec/types.js';
import { DockerApiError } from './errors.js';
import type { HostClient } from './host-client.js';
import type { Reach } from './observe.js';
import { tarOneFile } from './tar.js';

/** Who holds a lease: written on it, read by any heal that finds it. */
export type Holder = {
  readonly holder: string;
  /** The machine's host name, for people. */
  readonly machine: string;
  /** This boot of this machine and its pid namespace: whether `pid` can be checked here. */
  readonly machineId: string;
  readonly pid: string;
  readonly command: string;
  readonly since: string;
  readonly ttl: string;
};

/** A lease found on a host, with the counter its holder bumps at each renewal. */
export type Seen = { readonly id: string; readonly holder: Holder; readonly counter: number };

/** One host's lease, as the lock reads and writes it. */
export type LeaseStore = {
  readonly host: string;
  /** The new lease's id, or null when one exists already. */
  create(holder: Holder): Promise<string | null>;
  read(): Promise<Seen | null>;
  /** `gone`: the lease is no longer there (another heal took it over). */
  renew(id: string, counter: number): Promise<'renewed' | 'gone' | 'failed'>;
  remove(id: string): Promise<void>;
};

/** An image with one empty file: a lease container needs an image, and is never started. */
export const LOCK_IMAGE = 'heal-lock:1';
const PREFIX = 'io.heal.lock.';

/** The lease of `stack` on one host: a container `heal-lock-<stack>`, created and never started. */
export function lockStore(stack: string, host: Host, reach: (host: Host) => Promise<Reach>): LeaseStore {
  const name = `heal-lock-${stack}`;
  const client = async (): Promise<HostClient> => {
    const reached = await reach(host);
    if ('error' in reached) throw reached.error;
    return reached.client;
  };
  return {
    host: host.name,
    async create(holder) {
      const engine = await client();
      const labels = Object.fromEntries(
        Object.entries({ ...holder, stack }).map(([key, value]) => [PREFIX + key, value]),
      );
      const body = { Image: LOCK_IMAGE, Cmd: ['held'], Labels: labels, HostConfig: { NetworkMode: 'none' } };
      const create = (): Promise<string | null> =>
        engine.call(
          `lock ${stack}`,
          (docker, abortSignal) =>
            docker.createContainer({ ...body, name, abortSignal } as never).then(
              (container) => container.id,
              (error: { statusCode?: number }) => {
                if (error.statusCode === 409) return null;
                throw error;
              },
            ),
          { kind: 'write' },
        );
      try {
        return await create();
      } catch (error) {
        // The image is made on first use (and again if someone removed it).
        if (!(error instanceof DockerApiError) || error.status !== 404) throw error;
        await importLockImage(engine);
        return create();
      }
    },
    async read() {
      const engine = await client();
      const info = await engine.call(`read lock ${stack}`, (docker, abortSignal) =>
        docker
          .getContainer(name)
          .inspect({ abortSignal })
          .catch((error: { statusCode?: number }) => {
            if (error.statusCode === 404) return null;
            throw error;
          }),
      );
      return info === null ? null : seen(info);
    },
    async renew(id, counter) {
      try {
        const engine = await client();
        await engine.call(
          `renew lock ${stack}`,
          (docker, abortSignal) =>
            docker
              .getContainer(id)
              .update({ RestartPolicy: { Name: 'on-failure', MaximumRetryCount: counter }, abortSignal }),
          { kind: 'write' },
        );
        return 'renewed';
      } catch (error) {
        return error instanceof DockerApiError && error.status === 404 ? 'gone' : 'failed';
      }
    },
    async remove(id) {
      const engine = await client();
      await engine.call(
        `unlock ${stack}`,
        (docker, abortSignal) =>
          docker
            .getContainer(id)
            .remove({ force: true, abortSignal })
            .catch((error: { statusCode?: number }) => {
              if (error.statusCode !== 404) throw error;
            }),
        { kind: 'write' },
      );
    },
  };
}

function seen(info: Dockerode.ContainerInspectInfo): Seen {
  const labels = info.Config.Labels ?? {};
  const label = (key: keyof Holder): string => labels[PREFIX + key] ?? '';
  return {
    id: info.Id,
    counter: info.HostConfig.RestartPolicy?.MaximumRetryCount ?? 0,
    holder: {
      holder: label('holder'),
      machine: label('machine'),
      machineId: label('machineId'),
      pid: label('pid'),
      command: label('command'),
      since: label('since'),
      ttl: label('ttl'),
    },
  };
}

async function importLockImage(engine: HostClient): Promise<void> {
  const [repo, tag] = LOCK_IMAGE.split(':') as [string, string];
  const archive = tarOneFile('heal-lock', Buffer.alloc(0), { mode: 0o444, uid: 0, gid: 0 });
  await engine.call(
    `import ${LOCK_IMAGE}`,
    async (docker, abortSignal) => {
      // dockerode's types miss that it returns the progress stream when given no callback.
      const importImage = docker.importImage.bind(docker) as unknown as (
        file: NodeJS.ReadableStream,
        options: object,
      ) => Promise<NodeJS.ReadableStream>;
      const stream = await importImage(Readable.from(archive), { repo, tag, abortSignal });
      await new Promise<void>((resolve, reject) =>
        docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())),
      );
    },
    { kind: 'write' },
  );
}

let machine: string | undefined;

/**
 * This boot of this machine and this pid namespace (`<boot id>/<pid namespace>`): two machines,
 * or two containers, that share a host name never share it. Empty where /proc cannot tell.
 */
export function thisMachine(): string {
  if (machine !== undefined) return machine;
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pids = readlinkSync('/proc/self/ns/pid');
    machine = `${boot}/${pids}`;
  } catch {
    machine = '';
  }
  return machine;
}
