import type { Duplex } from 'node:stream';
import type { HostClient } from '../executor/host-client.js';
import { joinTerminal, type Terminal } from './attach.js';

export type ExecRequest = {
  readonly command: readonly string[];
  readonly tty: boolean;
  readonly interactive: boolean;
  readonly terminal: Terminal;
};

/**
 * Runs a command in a running container over the host's connection, joined to the terminal, and
 * returns its exit code (as `docker exec` does).
 */
export async function execIn(client: HostClient, container: string, request: ExecRequest): Promise<number> {
  const exec = await client.call('exec create', (docker) =>
    docker.getContainer(container).exec({
      Cmd: [...request.command],
      AttachStdin: request.interactive,
      AttachStdout: true,
      AttachStderr: true,
      Tty: request.tty,
    }),
  );
  const stream = (await client.call('exec start', () =>
    exec.start({ hijack: true, stdin: request.interactive, Tty: request.tty }),
  )) as Duplex;
  await joinTerminal(stream, request.terminal, {
    tty: request.tty,
    interactive: request.interactive,
    demux: (from, stdout, stderr) => client.docker.modem.demuxStream(from, stdout, stderr),
    resize: (size) => exec.resize(size),
  });
  const inspected = await client.call('exec inspect', () => exec.inspect());
  return inspected.ExitCode ?? 1;
}
