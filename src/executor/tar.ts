/**
 * A tar archive holding one file, for `PUT /containers/{id}/archive` (how secrets and configs
 * reach a container without a bind mount of a file that only exists on heal's machine).
 */
export function tarOneFile(
  path: string,
  content: Buffer,
  options: { mode: number; uid: number; gid: number },
): Buffer {
  const name = path.replace(/^\/+/, '');
  if (Buffer.byteLength(name) > 100) throw new Error(`internal: path too long for a tar header: ${path}`);
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  writeOctal(header, 100, 8, options.mode);
  writeOctal(header, 108, 8, options.uid);
  writeOctal(header, 116, 8, options.gid);
  writeOctal(header, 124, 12, content.length);
  writeOctal(header, 136, 12, 0);
  header.write('        ', 148, 8, 'ascii');
  header.write('0', 156, 1, 'ascii');
  header.write('ustar\u000000', 257, 8, 'binary');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'binary');
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

function writeOctal(buffer: Buffer, offset: number, length: number, value: number): void {
  buffer.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, length, 'ascii');
}
