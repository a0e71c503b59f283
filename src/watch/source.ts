/**
 * Where the daemon's spec comes from: a git repository followed by polling (and pokes from a
 * webhook), or a local file followed by a file watcher. Both answer one question, "what should I
 * load now?", with a file on disk that stays put until the next refresh().
 */
import { fileSource, type FileSourceOptions } from './source-file.js';
import { gitSource, type GitSourceOptions } from './source-git.js';
import type { SpecSource } from './source-types.js';

export type SpecSourceOptions =
  ({ readonly kind: 'git' } & GitSourceOptions) | ({ readonly kind: 'file' } & FileSourceOptions);

/** Opens the source the options describe. Throws a SpecSourceError on a bad option, before any git runs. */
export function specSource(options: SpecSourceOptions): SpecSource {
  if (options.kind === 'git') {
    const { kind, ...git } = options;
    return gitSource(git);
  }
  const { kind, ...file } = options;
  return fileSource(file);
}

export { fileSource, gitSource, type FileSourceOptions, type GitSourceOptions };
export type { SourceLog, SpecRevision, SpecSource } from './source-types.js';
export { SpecSourceError, type SpecSourceErrorKind } from './source-error.js';
