/**
 * The bytes of a secret or config file, read once when the spec is loaded, so that the stack
 * heal keeps (the last good one after a rejected commit, too) never reads the disk again.
 *
 * The bytes sit in a private field: `JSON.stringify`, `util.inspect`, template strings and
 * `Object.values` (which `deepFreeze` walks) see only the size, so printing a Stack, a plan or a
 * log line cannot show them. Object.freeze would throw on a Buffer; a private field is not a
 * property, so the frozen holder still works.
 */
export class FileContent {
  readonly #bytes: Uint8Array;
  readonly size: number;

  constructor(bytes: Uint8Array) {
    // A copy: the caller's buffer (often a slice of a pooled one) may change after this.
    this.#bytes = Uint8Array.from(bytes);
    this.size = bytes.length;
  }

  /** A fresh copy of the bytes: whoever writes into it cannot change the loaded stack. */
  bytes(): Buffer {
    return Buffer.from(this.#bytes);
  }

  toJSON(): string {
    return this.toString();
  }

  toString(): string {
    return `<${this.size} bytes>`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `FileContent ${this.toString()}`;
  }
}
