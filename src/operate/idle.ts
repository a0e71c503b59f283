/**
 * A stream of a host's output with a deadline on silence: when a value is wanted and the host
 * sends nothing for `idleMs`, the source ends and `onIdle` says so (and should close what feeds
 * it). Only a pending read counts: a source nobody pulls waits on its reader, not on its host.
 * An error of the source ends it too, through `onError`, so one host's failure leaves the others.
 */
export async function* untilIdle<T>(
  source: AsyncIterable<T>,
  idleMs: number,
  onIdle: () => void,
  onError: (error: unknown) => void,
): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  try {
    for (;;) {
      const idle = new Promise<'idle'>((resolve) => (timer = setTimeout(resolve, idleMs, 'idle')));
      const next = await Promise.race([iterator.next(), idle]);
      clearTimeout(timer);
      if (next === 'idle') return void onIdle();
      if (next.done) return void (ended = true);
      yield next.value;
    }
  } catch (error) {
    ended = true;
    onError(error);
  } finally {
    clearTimeout(timer);
    // A source stuck in a read cannot take a return() until that read settles: onIdle closes it.
    if (!ended) void iterator.return?.()?.catch(() => undefined);
  }
}
