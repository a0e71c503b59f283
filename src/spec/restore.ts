import { Check } from './check.js';
import { allHostsLocal } from './normalize-heal.js';
import { normalizeService } from './normalize-service.js';
import { REDACTED, serviceToCompose } from './to-compose.js';
import type { Service, Stack } from './types.js';

const NOWHERE = { locate: () => ({ line: 0, col: 0 }) };

/**
 * A service as a container recorded it (its `io.heal.spec` label: compose long form, env_file
 * values redacted), made whole again so heal can create more containers like it: the previous
 * config a rollback returns to. How it runs (deploy) is today's; what it runs is the label's.
 * env_file values come back as secrets the executor fills from today's spec, and the config hash
 * is the one the containers carry, so they read as up to date: for a service with secrets, the
 * hash keyed by the stack key, which cannot be made again from the label (it holds no secret
 * value) and is never made again here. Pure: reads no file.
 */
export function restoreService(
  stack: Stack,
  current: Service,
  label: string,
  configHash: string,
): Service | { readonly error: string } {
  let recorded: Record<string, unknown>;
  try {
    recorded = JSON.parse(label) as Record<string, unknown>;
  } catch (error) {
    return { error: `its recorded config is not JSON (${(error as Error).message})` };
  }
  const { resources, ...container } = recorded;
  const deploy = serviceToCompose(current).deploy as Record<string, unknown>;
  const check = new Check(`${current.name} (recorded config)`, NOWHERE);
  const normalized = normalizeService(
    {
      check,
      dir: stack.dir,
      stackName: stack.name,
      localHosts: allHostsLocal(stack.heal.hosts),
      lookup: () => undefined,
      readEnvFile: (_file, path) => void check.fail(path, 'an env_file cannot be read back'),
    },
    current.name,
    { ...container, deploy: { ...deploy, resources } },
  );
  if (!normalized || check.problems.length > 0)
    return { error: `its recorded config does not load: ${check.problems[0]?.message ?? 'unknown'}` };
  const environment = normalized.environment;
  const secretEnvironment = Object.keys(environment)
    .filter((key) => environment[key] === REDACTED)
    .sort();
  return { ...normalized, secretEnvironment, configHash };
}
