import type { Duplex } from 'node:stream';
import { answered, type RuntimeCommand } from '../mesh/runtime.js';
import { HostUnreachableError } from './errors.js';
import type { HostClient } from './host-client.js';
import { sleep } from './sleep.js';

/**
 * Sends one line to a HAProxy runtime API socket on a host and returns its whole answer (HAProxy
 * answers a non-interactive line and closes). Reached through the SSH connection's stream-local
 * channel, or the local socket; bounded by `timeoutMs` like every engine call.
 */
export async function runtimeLine(
  client: HostClient,
  socketPath: string,
  line: string,
  timeoutMs: number,
): Promise<string> {
  const host = client.host.name;
  if (client.openSocket === undefined)
    throw new HostUnreachableError(host, 'unreachable', `heal cannot open ${socketPath} on this host`);
  const timedOut = (): HostUnreachableError =>
    new HostUnreachableError(
      host,
      'timeout',
      `the mesh proxy did not answer "${line}" within ${timeoutMs} ms`,
    );
  let timer: NodeJS.Timeout | undefined;
  let stream: Duplex | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      stream?.destroy();
      reject(timedOut());
    }, timeoutMs);
  });
  const exchange = (async (): Promise<string> => {
    stream = await client.openSocket!(socketPath);
    const opened = stream;
    return new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      opened.on('data', (chunk: Buffer) => chunks.push(chunk));
      opened.on('error', reject);
      opened.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
      opened.on('end', () => {
        resolve(Buffer.concat(chunks).toString('utf8'));
        opened.destroy();
      });
      opened.write(`${line}\n`);
    });
  })();
  try {
    return await Promise.race([exchange, deadline]);
  } finally {
    clearTimeout(timer);
    exchange.catch(() => undefined);
  }
}

/**
 * Runs runtime commands in order; the first answer that is not the expected one fails, once a
 * command's `retries` (sent again every `retryMs`) are spent.
 */
export async function runCommands(
  client: HostClient,
  socketPath: string,
  commands: readonly RuntimeCommand[],
  timeoutMs: number,
  retryMs = 100,
): Promise<void> {
  for (const command of commands) {
    let answer = await runtimeLine(client, socketPath, command.line, timeoutMs);
    for (let retry = 0; retry < (command.retries ?? 0) && !answered(command, answer); retry += 1) {
      await sleep(retryMs);
      answer = await runtimeLine(client, socketPath, command.line, timeoutMs);
    }
    if (!answered(command, answer))
      throw new Error(`mesh proxy on ${client.host.name}: "${command.line}" answered "${answer.trim()}"`);
  }
}
