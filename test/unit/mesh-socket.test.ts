import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../src/executor/errors.js';
import type { HostClient } from '../../src/executor/host-client.js';
import { runCommands, runtimeLine } from '../../src/executor/mesh-socket.js';

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
});
