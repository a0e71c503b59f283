import type { Duplex } from 'node:stream';

/** The terminal heal runs in, as a command in a container sees it: what `exec` and `run` attach. */
export type Terminal = {
  readonly stdin: NodeJS.ReadStream;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
};

/** A TTY when heal's own stdin and stdout are one (`-it` like docker), unless refused. */
export function wantsTty(terminal: Terminal, noTty: boolean): boolean {
  return !noTty && terminal.stdin.isTTY === true && terminal.stdout.isTTY === true;
}

/**
 * Joins a hijacked engine stream to the terminal until the stream ends: stdin in (when
 * `interactive`), output out, demultiplexed into stdout and stderr unless it is a TTY, which is
 * raw, put in raw mode and kept at the terminal's size.
 */
export async function joinTerminal(
  stream: Duplex,
  terminal: Terminal,
  options: {
    readonly tty: boolean;
    readonly interactive: boolean;
    readonly demux: (stream: Duplex, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream) => void;
    readonly resize: (size: { readonly h: number; readonly w: number }) => Promise<unknown>;
  },
): Promise<void> {
  const { stdin, stdout, stderr } = terminal;
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  if (options.tty) stream.pipe(stdout, { end: false });
  else options.demux(stream, stdout, stderr);
  const resize = (): void =>
    void options.resize({ h: stdout.rows ?? 24, w: stdout.columns ?? 80 }).catch(() => undefined);
  const raw = options.tty && stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  if (options.tty) {
    resize();
    stdout.on('resize', resize);
  }
  const forward = (chunk: Buffer): void => void stream.write(chunk);
  const close = (): void => {
    // Half-close: the command sees end of input and may still answer.
    (stream as Duplex & { end: () => void }).end();
  };
  if (options.interactive) {
    stdin.on('data', forward);
    stdin.once('end', close);
    stdin.resume();
  }
  try {
    await ended;
  } finally {
    stdout.off('resize', resize);
    stdin.off('data', forward);
    stdin.off('end', close);
    if (options.interactive) stdin.pause();
    if (raw) stdin.setRawMode(false);
  }
}
