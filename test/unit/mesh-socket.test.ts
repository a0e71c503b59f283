import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../src/executor/errors.js';
import type { HostClient } from '../../src/executor/host-client.js';
import { runCommands, runtimeLine } from '../../src/executor/mesh-socket.js';
import { DEFAULT_HEALTH } from '../../src/mesh/health.js';
import { DEL_SERVER_RETRIES, runtimeCommands } from '../../src/mesh/runtime.js';

const folder = mkdtempSync(join(tmpdir(), 'heal-mesh-socket-'));
const servers: Server[] = [];
afterAll(() => {
  for (const server of servers) server.close();
  rmSync(folder, { recursive: true, force: true });
});

/** A unix socket that answers each line as `answer(line)` says, then closes (HAProxy's non-interactive mode); null: never answers. */
async function socketAnswering(name: string, answer: (line: string) => string | null): Promise<string> {
  const path = join(folder, name);
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    socket.once('data', (line: string) => {
      const text = answer(line.trim());
      if (text !== null) socket.end(text);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return path;
}

/** Only what the socket client uses of a host client: its name and a local socket. */
const client = {
  host: { name: 'h1' },
  openSocket: (path: string) =>
    new Promise<Duplex>((resolve, reject) => {
      const socket = connect(path);
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
    }),
} as unknown as HostClient;

describe('the mesh proxy runtime socket', () => {
  it('sends one line and returns the whole answer', async () => {
    const path = await socketAnswering('a.sock', (line) =>
      line === 'show servers state' ? '1\n# be_name\n' : 'no',
    );
    expect(await runtimeLine(client, path, 'show servers state', 2000)).toBe('1\n# be_name\n');
  });

  it('fails at its deadline when the proxy does not answer', async () => {
    const path = await socketAnswering('b.sock', () => null);
    await expect(runtimeLine(client, path, 'show stat', 200)).rejects.toBeInstanceOf(HostUnreachableError);
  });

  it('stops at the first answer that is not the expected one, naming the line and the answer', async () => {
    const path = await socketAnswering('c.sock', (line) =>
      line.startsWith('add server') ? 'Already exists a server with the same name in backend.\n' : '',
    );
    await expect(
      runCommands(
        client,
        path,
        [
          { line: 'enable health web_8080/x', expect: '' },
          { line: 'add server web_8080/x 10.0.0.1:80', expect: 'New server registered.' },
        ],
        2000,
      ),
    ).rejects.toThrow(
      'mesh proxy on h1: "add server web_8080/x 10.0.0.1:80" answered "Already exists a server with the same name in backend."',
    );
  });

  it('sends del server again while HAProxy refuses it for the sessions still closing, and fails once the retries are spent', async () => {
    const REFUSED = 'Server still has connections attached to it, cannot remove it.\n';
    let refusals = 3;
    const sent: string[] = [];
    const path = await socketAnswering('d.sock', (line) => {
      sent.push(line);
      if (!line.startsWith('del server')) return '';
      if (refusals > 0) {
        refusals -= 1;
        return REFUSED;
      }
      return 'Server deleted.\n';
    });
    const remove = runtimeCommands(
      [{ kind: 'remove', backend: 'web_8080', server: 'h1-s1-abc' }],
      DEFAULT_HEALTH,
    );
    await runCommands(client, path, remove, 2000, 10);
    expect(sent).toEqual([
      'set server web_8080/h1-s1-abc state maint',
      'shutdown sessions server web_8080/h1-s1-abc',
      ...Array(4).fill('del server web_8080/h1-s1-abc'),
    ]);

    refusals = Number.POSITIVE_INFINITY;
    sent.length = 0;
    await expect(runCommands(client, path, remove, 2000, 1)).rejects.toThrow(
      'mesh proxy on h1: "del server web_8080/h1-s1-abc" answered "Server still has connections attached to it, cannot remove it."',
    );
    expect(sent.filter((line) => line.startsWith('del server')).length).toBe(1 + DEL_SERVER_RETRIES);
  });
});
