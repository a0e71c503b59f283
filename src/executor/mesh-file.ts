import type { MemberChange } from '../mesh/diff.js';
import type { HealthSettings } from '../mesh/health.js';
import { PROXY_CONFIG } from '../mesh/names.js';
import { configServers, editConfig } from '../mesh/reload.js';
import type { CurrentServer } from '../mesh/servers-state.js';
import type { HostClient } from './host-client.js';
import { tarOneFile } from './tar.js';

/**
 * A mesh proxy's config file in its container: written after each change (so a restarted proxy
 * keeps its members), and, where heal cannot reach the runtime socket, read, edited and reloaded
 * (src/mesh/reload.ts).
 */

/** A running proxy on one host, and how heal changes it there. */
export type ProxyTarget = {
  readonly client: HostClient;
  readonly socket: string;
  /** The proxy's container id. */
  readonly id: string;
  /** No runtime socket on this host: heal edits the config file and reloads (reload.ts). */
  readonly reload: boolean;
};

/**
 * Whether heal changes a host's proxies by rewriting their config and reloading them: the host's
 * sshd refused a stream-local channel (heal reaches its engine through `docker system dial-stdio`),
 * or its engine is reached over tcp://. Neither reaches a unix socket on the host.
 */
export function reloadsOnly(client: HostClient): boolean {
  return client.openSocket === undefined || client.transport() === 'ssh-dial-stdio';
}

/** The proxy's config file as it is in its container (GET archive: a tar of that one file). */
export async function readProxyConfig(client: HostClient, container: string): Promise<string> {
  const stream = await client.call(
    `read the mesh config of ${container.slice(0, 12)}`,
    (docker, abortSignal) =>
      (docker.getContainer(container).getArchive as (options: object) => Promise<NodeJS.ReadableStream>).call(
        docker.getContainer(container),
        { path: PROXY_CONFIG, abortSignal },
      ),
  );
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  return untarOneFile(Buffer.concat(chunks)).toString('utf8');
}

/** Writes the config and reloads the proxy: SIGUSR2 to HAProxy's master (`-W`). */
export async function reloadWith(proxy: ProxyTarget, config: string): Promise<void> {
  await reloadProxy(proxy.client, proxy.id, config);
}

/** Writes a proxy's config and reloads it: SIGUSR2 to HAProxy's master (`-W`). */
export async function reloadProxy(client: HostClient, container: string, config: string): Promise<void> {
  const proxy = { id: container };
  await writeProxyConfig(client, container, config);
  await client.call(
    `reload the mesh proxy ${proxy.id.slice(0, 12)}`,
    (docker, abortSignal) =>
      (docker.getContainer(proxy.id).kill as (options: object) => Promise<unknown>).call(
        docker.getContainer(proxy.id),
        { signal: 'SIGUSR2', abortSignal },
      ),
    { kind: 'write' },
  );
}

/** The file edited by the changes, written and reloaded when they change it; whether they did. */
export async function editAndReload(
  proxy: ProxyTarget,
  changes: readonly MemberChange[],
  health: HealthSettings,
): Promise<boolean> {
  const before = await readProxyConfig(proxy.client, proxy.id);
  const after = editConfig(before, changes, health);
  if (after === before) return false;
  await reloadWith(proxy, after);
  return true;
}

/** HAProxy processes in the proxy: the master and its worker, plus old workers still finishing. */
export async function proxyWorkers(proxy: ProxyTarget): Promise<number> {
  const top = (await proxy.client.call(
    `list the processes of ${proxy.id.slice(0, 12)}`,
    (docker, abortSignal) =>
      (docker.getContainer(proxy.id).top as (options: object) => Promise<unknown>).call(
        docker.getContainer(proxy.id),
        { abortSignal },
      ),
  )) as { Titles?: string[]; Processes?: string[][] };
  const column = Math.max(
    0,
    (top.Titles ?? []).findIndex((title) => title === 'CMD' || title === 'COMMAND'),
  );
  return (top.Processes ?? []).filter((row) => (row[column] ?? row.join(' ')).includes('haproxy')).length;
}

/** The content of the first file of a tar archive. */
function untarOneFile(archive: Buffer): Buffer {
  const size = parseInt(archive.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
  return archive.subarray(512, 512 + size);
}

/** The servers the file of a proxy reached only by reloads holds (its membership after the last reload). */
export async function proxyFileServers(client: HostClient, container: string): Promise<CurrentServer[]> {
  return configServers(await readProxyConfig(client, container));
}

/** Puts a proxy's config file in its container (PUT archive), for the next time it starts. */
export async function writeProxyConfig(client: HostClient, container: string, config: string): Promise<void> {
  const archive = tarOneFile(PROXY_CONFIG, Buffer.from(config), { mode: 0o444, uid: 0, gid: 0 });
  await client.call(
    `write the mesh config of ${container.slice(0, 12)}`,
    (docker, abortSignal) => docker.getContainer(container).putArchive(archive, { path: '/', abortSignal }),
    { kind: 'write' },
  );
}
