/**
 * The words every spec source speaks, in a file of their own so the sources and the factory that
 * opens them (source.ts) import them without importing each other.
 */

/** One readable state of the spec: a checked-out file at a revision. */
export type SpecRevision = {
  /** The commit sha checked out (git), or null for a plain file. */
  readonly revision: string | null;
  /** Absolute path of the spec to load. */
  readonly file: string;
  /** The folder to hand loadStack as `cwd`: the clone's root (git) or the spec's folder (file). */
  readonly cwd: string;
  /**
   * What the spec's folder is called, for the stack's default name (without `name:`): as a
   * checkout would call it. The file's own folder; in a git clone, the spec's folder in the
   * repository, or the repository's name for a spec at its root (as `git clone URL` names it),
   * never the cache's folder.
   */
  readonly folderName: string;
};

export type SpecSource = {
  /** `git https://host/repo.git main:stack.yml` or `file /abs/stack.yml`; never holds a secret. */
  readonly describe: string;
  /**
   * Brings the source up to date (git: fetch, then check out the ref's commit if it moved or the
   * tree was edited by hand) and returns what to load now. The file it names does not change until
   * the next refresh(), so a reconcile that loads it pins `revision`. Calls are serialized.
   */
  refresh(): Promise<SpecRevision>;
  /**
   * What to load now without reaching the remote: the commit the poller or the webhook fetched
   * last, checked out (a fetch only when none was made yet, at the start). A fetch in flight, or
   * a remote that hangs, never holds it up: the reconcile calls this, so healing never waits on
   * the git server. A file: the same as refresh().
   */
  current(): Promise<SpecRevision>;
  /**
   * Starts following: calls onChange (debounced) whenever refresh() may return something new: a
   * file save, or a fetch that found a new commit (git polls every intervalMs, ±10% jitter). Call it
   * before the first refresh() so no change can fall between the two.
   */
  start(onChange: () => void): void;
  /** Fetch now (the webhook). Coalesces: pokes during a fetch queue one more fetch, not one each. */
  poke(): void;
  /** How often to poll from now on: the spec's own `x-heal.watch.interval`, once it is read. */
  pollEvery?(ms: number): void;
  /** Stops following and waits for a git command in flight; refresh() then rejects. */
  close(): Promise<void>;
};

/** Structured logger, as the executor's: constant messages, data in fields. */
export type SourceLog = {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
};
