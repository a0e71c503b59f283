import type { TestbedEnv } from '../test/testbed.js';
import type { ResultRow } from './results-row.js';
import { benchTransport } from './transport.js';

/** Docker API calls per second on one host: heal's SSH transport, the local socket (floor), docker-modem's ssh. */
export async function transportRows(env: TestbedEnv): Promise<ResultRow[]> {
  const { rows } = await benchTransport(env, 'h1');
  const value = (name: string): number => rows.find((row) => row.name === `transport ${name}`)?.value ?? 0;
  return [1, 8].map((concurrency): ResultRow => {
    const heal = value(`ssh c${concurrency}`);
    const floor = value(`socket c${concurrency}`);
    const modem = value(`modem-ssh c${concurrency}`);
    const withinFloor = heal * 1.5 >= floor;
    const overModem = heal >= modem * 5;
    return {
      name: `API calls/s over SSH, ${concurrency} at a time`,
      heal,
      swarm: null,
      floor,
      unit: 'calls/s',
      extra: {
        dockerModemSsh: modem,
        floorOverHeal: Math.round((floor / heal) * 100) / 100,
        healOverModem: Math.round(heal / Math.max(modem, 0.01)),
      },
      target: { text: 'within 1.5x of the local socket, 5x docker-modem ssh', met: withinFloor && overModem },
    };
  });
}
