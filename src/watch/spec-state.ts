import { relative } from 'node:path';
import type { Confinement } from '../spec/confine.js';
import type { Stack } from '../spec/types.js';
import { loadIsolated, type IsolatedLoadOptions } from './load-isolated.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { SpecSource } from './source-types.js';

/** A spec that loaded, and the revision it came from (null for a plain file). */
export type GoodSpec = { readonly stack: Stack; readonly revision: string | null };

export type SpecLoadOptions = {
  readonly source: SpecSource;
  readonly environment: Readonly<Record<string, string | undefined>>;
  readonly envFile?: string;
  /** What a commit may reach (variables, files). */
  readonly confine?: Confinement;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Told every secret value a loaded spec holds (env_file values), so logs can hide them. */
  readonly secrets?: (values: string[]) => void;
  /** Told when a spec is newly in force (`first`: the daemon's first), and when one is rejected (notifications). */
  readonly onLoaded?: (good: GoodSpec, first: boolean) => void;
  readonly onRejected?: (stack: string | null, revision: string | null, error: string) => void;
  /** How a revision is loaded: in a worker (loadIsolated) unless a test loads it in-process. */
  readonly loader?: (options: IsolatedLoadOptions) => Promise<Stack>;
};

/**
 * The spec in force. It is read again only after the source announced something new (a commit
 * fetched, a file saved), so healing never waits on the forge; a spec that does not load, or whose
 * plan is refused, is rejected and the last good one stays in force.
 */
export class SpecState {
  good: GoodSpec | null = null;
  /** The good spec before the newest one, until the newest has planned: a plan it refuses falls back. */
  fallback: GoodSpec | null = null;
  error: string | null = null;
  /** The revision the source offered last, loaded or rejected: what the spec says should run. */
  desired: string | null = null;
  /** The source announced something new since the spec was last read (true at the start). */
  changed = true;

  constructor(private readonly options: SpecLoadOptions) {}

  /** Loads the source's current revision if it changed since the last load. */
  async load(): Promise<void> {
    if (!this.changed) return;
    const { source, log, metrics } = this.options;
    // Cleared first: a change that lands while this load runs sets it again.
    this.changed = false;
    let at: string | null = null;
    try {
      // Never a fetch here (but the first): the poller and the webhook fetch, and announce.
      const revision = await source.current();
      at = revision.revision;
      this.desired = at;
      // In a worker: a spec that would exhaust memory or time is rejected, not fatal.
      const stack = await (this.options.loader ?? loadIsolated)({
        // Relative to the checkout, so an error reads `stack.yml:5:1`, not the cache's path.
        file: relative(revision.cwd, revision.file),
        cwd: revision.cwd,
        folderName: revision.folderName,
        environment: this.options.environment,
        ...(this.options.envFile ? { envFile: this.options.envFile } : {}),
        ...(this.options.confine ? { confine: this.options.confine } : {}),
      });
      const good = this.good;
      // A plain file has no revision: every load after the first follows a save that changed it
      // (the file source announces nothing else), so it is new content, to be able to fall back from.
      const newer = good !== null && (revision.revision === null || good.revision !== revision.revision);
      if (good === null || newer || good.stack.name !== stack.name) {
        log.info({ stack: stack.name, revision: revision.revision }, 'spec loaded');
        for (const warning of stack.warnings)
          log.warn({ stack: stack.name, revision: revision.revision, warning }, 'spec key not acted on');
      }
      if (newer) this.fallback = good;
      this.good = { stack, revision: revision.revision };
      if (good === null || newer || good.stack.name !== stack.name)
        this.options.onLoaded?.(this.good, good === null);
      source.pollEvery?.(stack.heal.watch.interval);
      this.options.secrets?.(
        Object.values(stack.services).flatMap((service) =>
          service.secretEnvironment.flatMap((key) => service.environment[key] ?? []),
        ),
      );
      this.error = null;
      metrics.specLoad(stack.name, true);
      metrics.setRevision(stack.name, revision.revision ?? 'file');
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      this.refuse(at === null ? detail : `revision ${at.slice(0, 12)}: ${detail}`, at);
    }
  }

  /** The newest spec planned without being refused: there is nothing to fall back to any more. */
  planned(): void {
    this.fallback = null;
  }

  /**
   * The newest spec's plan was refused (it would remove every container of the stack): it is
   * rejected like one that does not load. Returns false when there is nothing to fall back to.
   */
  rejectNewest(reason: string): boolean {
    if (!this.fallback) return false;
    const revision = this.good?.revision ?? null;
    this.refuse(
      `${revision === null ? 'new file content' : `revision ${revision.slice(0, 12)}`}: ${reason}`,
      revision,
    );
    this.good = this.fallback;
    this.fallback = null;
    this.options.metrics.setRevision(this.good.stack.name, this.good.revision ?? 'file');
    return true;
  }

  private refuse(message: string, revision: string | null): void {
    if (message !== this.error) {
      this.options.log.error(
        { stack: this.good?.stack.name ?? null, revision, error: message },
        'spec rejected; the last good spec stays in force',
      );
      this.options.onRejected?.(this.good?.stack.name ?? null, revision, message);
    }
    this.error = message;
    this.options.metrics.specLoad(this.good?.stack.name ?? 'unknown', false);
  }
}
