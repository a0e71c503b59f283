/**
 * The hostile commit's judge: every place a credential could have reached, read from outside
 * heal. Each container on every host (labels, environment, /run/secrets and the config a commit
 * named), and every output: each daemon's stdout and stderr, /status, /metrics, and what
 * `heal plan` and `heal ps` print. A finding is one sentence; none is what must hold.
 */
import { dockerAt, httpGet } from '../e2e/watch-helpers.js';
import type { Chaos } from './harness.js';
import { engineGet } from './monitor.js';
import { HOSTS, LEAK_CONFIG_TARGET } from './stack.js';

type Inspected = {
  Name: string;
  State: { Running: boolean };
  Config: { Env?: string[] | null; Labels?: Record<string, string> | null };
};

/** The values a text must not hold, each with the name the finding gives it. */
export type Needles = ReadonlyMap<string, string>;

function found(text: string, needles: Needles): string[] {
  return [...needles].filter(([, value]) => text.includes(value)).map(([name]) => name);
}

/**
 * Every container of every host. `credentials` must be nowhere; `stackSecrets` (the api's secret
 * file and env_file values) only where the spec puts them: api's environment and /run/secrets.
 */
export async function scanContainers(
  chaos: Chaos,
  credentials: Needles,
  stackSecrets: Needles,
): Promise<string[]> {
  const all: Needles = new Map([...credentials, ...stackSecrets]);
  const perHost = await Promise.all(
    HOSTS.map(async (host) => {
      const socket = chaos.env.hosts.find((item) => item.name === host)?.socket ?? '';
      const listed = (await engineGet(socket, '/containers/json?all=1', 5_000)) as { Id: string }[];
      const findings: string[] = [];
      for (const { Id: id } of listed) {
        // Removed since the list (heal healing meanwhile): gone, so nothing left in it to leak.
        const info = (await engineGet(socket, `/containers/${id}/json`, 5_000).catch((error: Error) => {
          if (/: 404 /.test(error.message)) return null;
          throw error;
        })) as Inspected | null;
        if (!info) continue;
        const where = `${host}/${info.Name.replace(/^\//, '')}`;
        const isApi =
          info.Config.Labels?.['io.heal.service'] === 'api' &&
          info.Config.Labels['io.heal.stack'] === 'chaos';
        const inside = isApi ? credentials : all;
        const labels = Object.entries(info.Config.Labels ?? {})
          .map(([key, value]) => `${key}=${value}`)
          .join('\n');
        for (const name of found(labels, all)) findings.push(`${where}: ${name} in its labels`);
        for (const name of found((info.Config.Env ?? []).join('\n'), inside))
          findings.push(`${where}: ${name} in its environment`);
        if (!info.State.Running) continue;
        const files = await dockerAt(chaos.env, host, [
          'exec',
          id,
          'sh',
          '-c',
          `cat /run/secrets/* ${LEAK_CONFIG_TARGET} 2>/dev/null; true`,
        ]).catch((error: Error) => `(unreadable: ${error.message})`);
        for (const name of found(files, inside)) findings.push(`${where}: ${name} in its files`);
      }
      return findings;
    }),
  );
  return perHost.flat();
}

/** Every daemon's output from `outputFrom` on, /status, /metrics, and `heal plan` / `heal ps` of the good spec. */
export async function scanOutputs(chaos: Chaos, needles: Needles, outputFrom: number): Promise<string[]> {
  const findings: string[] = [];
  for (const name of found(chaos.output().slice(outputFrom), needles))
    findings.push(`${name} in a daemon's output`);
  for (const path of ['/status', '/metrics']) {
    const text = await httpGet(chaos.port, path)
      .then((response) => response.text)
      .catch((error: Error) => `(${error.message})`);
    for (const name of found(text, needles)) findings.push(`${name} in GET ${path}`);
  }
  for (const args of [['plan'], ['plan', '--json'], ['ps']]) {
    const { output } = await chaos.cli(args);
    for (const name of found(output, needles)) findings.push(`${name} in heal ${args.join(' ')}`);
  }
  return findings;
}
