import { LABEL } from '../planner/labels.js';
import type { Availability, Host, Stack } from '../spec/types.js';
import { createMarkVolume } from './marks.js';
import type { Reach } from './observe.js';

/** `<stack>_heal-availability`: one per stack on each host, like Swarm's node availability. */
export function availabilityMarkName(stack: string): string {
  return `${stack}_heal-availability`;
}

/**
 * Records an operator's `heal hosts drain|pause|activate` on the host itself (a labelled volume,
 * as rollback marks are), so every heal, from any machine, reads it with the host; `active`
 * removes it. The mark replaces any earlier one: volume labels cannot be changed in place.
 */
export async function setAvailability(
  stack: Stack,
  host: Host,
  reach: (host: Host) => Promise<Reach>,
  availability: Availability,
  at: { readonly now: number; readonly deadline: number | null },
): Promise<void> {
  const reached = await reach(host);
  if ('error' in reached) throw reached.error;
  const { client } = reached;
  const name = availabilityMarkName(stack.name);
  await client.call(
    `remove volume ${name}`,
    async (docker, abortSignal) => {
      try {
        await docker.getVolume(name).remove({ abortSignal });
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      }
    },
    { kind: 'write' },
  );
  if (availability === 'active') return;
  await createMarkVolume(client, name, {
    [LABEL.stack]: stack.name,
    [LABEL.availability]: availability,
    [LABEL.since]: String(at.now),
    ...(at.deadline === null ? {} : { [LABEL.deadline]: String(at.deadline) }),
  });
}
