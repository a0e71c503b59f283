import { openSync, readSync, closeSync, fstatSync } from 'node:fs';

/**
 * A compose file is a few kilobytes; anything past this is a mistake (a log file, a dump),
 * refused before it is parsed so that memory stays bounded.
 */
export const MAX_SPEC_BYTES = 4 * 1024 * 1024;
/** env files, secrets and configs: Swarm caps a secret at 500 KB. */
export const MAX_SIDE_FILE_BYTES = 1024 * 1024;

export type ReadResult = { readonly text: Buffer } | { readonly error: string };

/** Reads at most `limit` bytes of a file, without ever reading a larger one whole. */
export function readLimited(file: string, limit: number): ReadResult {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    return { error: describeFsError(error) };
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) return { error: 'is a directory, not a file' };
    if (stat.isFile() && stat.size > limit) return { error: tooLarge(stat.size, limit) };
    return readChunks((buffer, offset) => readSync(fd, buffer, offset, buffer.length - offset, null), limit);
  } catch (error) {
    return { error: describeFsError(error) };
  } finally {
    closeSync(fd);
  }
}

/** Reads a stream (stdin) up to `limit` bytes. */
export async function readStreamLimited(
  stream: AsyncIterable<Buffer | string>,
  limit: number,
): Promise<ReadResult> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > limit) return { error: tooLarge(size, limit, 'more than ') };
    chunks.push(buffer);
  }
  return { text: Buffer.concat(chunks) };
}

function readChunks(read: (buffer: Buffer, offset: number) => number, limit: number): ReadResult {
  // One byte past the limit tells a file that grew (or a pipe) from one that fits.
  const buffer = Buffer.alloc(Math.min(limit + 1, 64 * 1024));
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const count = read(buffer, 0);
    if (count === 0) return { text: Buffer.concat(chunks) };
    size += count;
    if (size > limit) return { error: tooLarge(size, limit, 'more than ') };
    chunks.push(Buffer.from(buffer.subarray(0, count)));
  }
}

function tooLarge(size: number, limit: number, prefix = ''): string {
  return `is too large (${prefix}${formatSize(size)}; the limit is ${formatSize(limit)})`;
}

function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot be read: permission denied';
  if (code === 'EISDIR') return 'is a directory, not a file';
  return `cannot be read: ${(error as Error).message}`;
}
