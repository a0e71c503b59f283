import { LABEL } from '../planner/labels.js';
import type { ScaleMark } from '../planner/observed.js';
import type { Host, Stack } from '../spec/types.js';
import { createMarkVolume, recordOnEveryHost } from './marks.js';
import type { Reach } from './observe.js';

export type NewScaleMark = Pick<ScaleMark, 'service' | 'replicas' | 'reason' | 'at'>;

/**
 * Records on every host that answers the count autoscaling chose for a service: a small labelled
 * volume per decision (volume labels cannot change), then the service's older ones on that host
 * are removed. The newest a reachable host holds is in force (`planner/autoscale.ts`), so heal
 * keeps the count across restarts and from any machine. Returns the hosts that hold the mark; it
 * fails only when none does.
 */
export async function writeScaleMark(
  stack: Stack,
  reach: (host: Host) => Promise<Reach>,
  mark: NewScaleMark,
): Promise<string[]> {
  const name = scaleMarkName(stack.name, mark.service, mark.at);
  return recordOnEveryHost(stack, reach, `${mark.service}'s count of ${mark.replicas}`, async (client) => {
    await createMarkVolume(client, name, {
      [LABEL.stack]: stack.name,
      [LABEL.service]: mark.service,
      [LABEL.autoscale]: String(mark.replicas),
      [LABEL.autoscaleAt]: String(mark.at),
      [LABEL.reason]: mark.reason.slice(0, 1000),
    });
    const listed = await client.call('listVolumes', (docker, abortSignal) =>
      docker.listVolumes({
        filters: {
          label: [`${LABEL.stack}=${stack.name}`, `${LABEL.service}=${mark.service}`, LABEL.autoscale],
        },
        abortSignal,
      }),
    );
    const older = (listed.Volumes ?? []).filter(
      (volume) => volume.Name !== name && Number(volume.Labels?.[LABEL.autoscaleAt]) <= mark.at,
    );
    // Best effort: a mark left behind is older, so never in force.
    await Promise.all(
      older.map((volume) =>
        client
          .call(
            `remove volume ${volume.Name}`,
            (docker, abortSignal) => docker.getVolume(volume.Name).remove({ abortSignal }),
            { kind: 'write' },
          )
          .catch(() => undefined),
      ),
    );
  });
}

/** `<stack>_heal-scale_<service>_<epoch ms>`: one per service and decision. */
export function scaleMarkName(stack: string, service: string, at: number): string {
  return `${stack}_heal-scale_${service}_${at}`;
}
