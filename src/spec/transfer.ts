import { FileContent } from './file-content.js';
import { deepFreeze } from './load.js';
import type { FileObject, Stack } from './types.js';

/**
 * A Stack as plain data, to cross a thread with postMessage: structured cloning keeps objects,
 * arrays and bytes, but drops classes, so each FileContent travels as its bytes.
 */
export type PortableStack = Omit<Stack, 'secrets' | 'configs'> & {
  readonly secrets: Readonly<Record<string, PortableFile>>;
  readonly configs: Readonly<Record<string, PortableFile>>;
};

type PortableFile = Omit<FileObject, 'content'> & { readonly content: Uint8Array };

export function toPortable(stack: Stack): PortableStack {
  const files = (objects: Stack['secrets']): Record<string, PortableFile> =>
    Object.fromEntries(
      Object.entries(objects).map(([name, object]) => [name, { ...object, content: object.content.bytes() }]),
    );
  return { ...stack, secrets: files(stack.secrets), configs: files(stack.configs) };
}

/** The Stack again, deeply frozen as loadStack returns it. */
export function fromPortable(portable: PortableStack): Stack {
  const files = (objects: PortableStack['secrets']): Record<string, FileObject> =>
    Object.fromEntries(
      Object.entries(objects).map(([name, object]) => [
        name,
        { ...object, content: new FileContent(object.content) },
      ]),
    );
  return deepFreeze({ ...portable, secrets: files(portable.secrets), configs: files(portable.configs) });
}
