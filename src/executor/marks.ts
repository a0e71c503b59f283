import { LABEL } from '../planner/labels.js';
import type { RolloutMark } from '../planner/observed.js';
import type { Host, Stack } from '../spec/types.js';
import type { HostClient } from './host-client.js';
import type { Reach } from './observe.js';

export type NewMark = Pick<RolloutMark, 'service' | 'configHash' | 'state' | 'reason'>;

/**
 * Records on every host that answers that a service's config was rolled back or paused: a small
 * labelled volume, so heal remembers it across restarts and from any machine, and forgets it once
 * the planner sees the spec has moved on. Returns the hosts that hold the mark; it fails only
 * when none does.
 */
export async function writeMark(
  stack: Stack,
  reach: (host: Host) => Promise<Reach>,
  mark: NewMark,
): Promise<string[]> {
  const name = markName(stack.name, mark);
  return recordOnEveryHost(stack, reach, `that ${mark.service} was ${mark.state}`, (client) =>
    createMarkVolume(client, name, {
      [LABEL.stack]: stack.name,
      [LABEL.service]: mark.service,
      [LABEL.configHash]: mark.configHash,
      [LABEL.rollout]: mark.state,
      [LABEL.reason]: mark.reason.slice(0, 1000),
    }),
  );
}

/** A mark: a small volume whose labels say what heal decided (volume labels cannot change later). */
export function createMarkVolume(
  client: HostClient,
  name: string,
  labels: Readonly<Record<string, string>>,
): Promise<unknown> {
  return client.call(
    `create volume ${name}`,
    (docker, abortSignal) => docker.createVolume({ Name: name, Labels: { ...labels }, abortSignal }),
    { kind: 'write' },
  );
}

/**
 * Runs `write` on every host that answers, at once; returns the hosts where it succeeded, and
 * fails only when none did, saying `what` could not be recorded and why on each host.
 */
export async function recordOnEveryHost(
  stack: Stack,
  reach: (host: Host) => Promise<Reach>,
  what: string,
  write: (client: HostClient) => Promise<unknown>,
): Promise<string[]> {
  const errors: string[] = [];
  const written = await Promise.all(
    Object.values(stack.heal.hosts).map(async (host) => {
      const reached = await reach(host);
      if ('error' in reached) return void errors.push(reached.error.message);
      try {
        await write(reached.client);
        return host.name;
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
      }
    }),
  );
  const hosts = written.filter((name): name is string => typeof name === 'string');
  if (hosts.length === 0) throw new Error(`could not record ${what} on any host: ${errors.join('; ')}`);
  return hosts;
}

/** `<stack>_heal-<state>_<service>_<12 digits of the hash>`: one per service, config and state. */
export function markName(stack: string, mark: Pick<NewMark, 'service' | 'configHash' | 'state'>): string {
  const digits = mark.configHash.replace(/^v\d+:/, '').slice(0, 12);
  return `${stack}_heal-${mark.state}_${mark.service}_${digits}`;
}
