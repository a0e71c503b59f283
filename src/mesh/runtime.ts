import type { MemberChange } from './diff.js';
import { hostPort, serverKeywords, type HealthSettings } from './health.js';

/**
 * One line for HAProxy 2.6's runtime API (the `stats socket` at level admin), and what its answer
 * must contain: `add server`, `del server` and `set server … addr` say so, every other command
 * here answers nothing.
 */
export type RuntimeCommand = {
  readonly line: string;
  readonly expect: string;
  /**
   * How many more times to send the line, 100 ms apart, while the answer is not the expected one.
   * `del server` right after `shutdown sessions` is refused ("still has connections attached")
   * until the sessions killed in their threads are gone, which takes a few milliseconds.
   */
  readonly retries?: number;
};

/** `del server` is retried this many times, 100 ms apart (2 s in all), before the removal fails. */
export const DEL_SERVER_RETRIES = 20;

const SILENT = '';

/**
 * The runtime API lines for a list of changes, in order (syntax checked against 2.6.12's
 * management guide and a running 2.6.12):
 * - add: a dynamic server starts in maintenance with its check off; the check is enabled, then the
 *   server is enabled and forced down in the same line, so it takes traffic only after its first
 *   passing check (`rise`), never before.
 * - drain: no new connections; established ones and checks go on.
 * - remove: `del server` needs maintenance and no connection left, so the remaining sessions (past
 *   the drain timeout the executor waited) are shut first; it is refused while their shutdown
 *   finishes, so it is retried (bounded) until it answers.
 */
export function runtimeCommands(changes: readonly MemberChange[], health: HealthSettings): RuntimeCommand[] {
  return changes.flatMap((change) => commandsFor(change, health));
}

function commandsFor(change: MemberChange, health: HealthSettings): RuntimeCommand[] {
  const ref = `${change.backend}/${change.server}`;
  switch (change.kind) {
    case 'add':
      return [
        {
          line: `add server ${ref} ${hostPort(change.address, change.port)} ${serverKeywords(health, change.proxyProtocol)}`,
          expect: 'New server registered.',
        },
        { line: `enable health ${ref}`, expect: SILENT },
        { line: `enable server ${ref}; set server ${ref} health down`, expect: SILENT },
      ];
    case 'readdress':
      return [
        {
          line: `set server ${ref} addr ${change.address} port ${change.port}`,
          // `IP changed from '…' to '…', port changed from …`, or `no need to change the addr, …`
          expect: `by 'stats socket command'`,
        },
      ];
    case 'ready':
      return [{ line: `set server ${ref} state ready`, expect: SILENT }];
    case 'drain':
      return [{ line: `set server ${ref} state drain`, expect: SILENT }];
    case 'remove':
      return [
        { line: `set server ${ref} state maint`, expect: SILENT },
        { line: `shutdown sessions server ${ref}`, expect: SILENT },
        { line: `del server ${ref}`, expect: 'Server deleted.', retries: DEL_SERVER_RETRIES },
      ];
  }
}

/**
 * Whether an answer is the one a command expects: empty for silent commands, containing the
 * expected words for the others. Any other answer is the proxy's error message, for the executor
 * to report.
 */
export function answered(command: RuntimeCommand, answer: string): boolean {
  const text = answer.trim();
  return command.expect === SILENT ? text === '' : text.includes(command.expect);
}
