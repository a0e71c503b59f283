import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type RegistryAuth = { username: string; password: string; serveraddress: string };

/**
 * Credentials for the registry of an image: `HEAL_REGISTRY_USER` / `HEAL_REGISTRY_PASSWORD`
 * (for every registry), else `auths` of `~/.docker/config.json` (or `$DOCKER_CONFIG`), as
 * `docker login` leaves them. Credential helpers are not run. Passwords never reach a log.
 */
export function registryAuth(
  image: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): RegistryAuth | undefined {
  const registry = registryOf(image);
  if (env.HEAL_REGISTRY_USER && env.HEAL_REGISTRY_PASSWORD) {
    return {
      username: env.HEAL_REGISTRY_USER,
      password: env.HEAL_REGISTRY_PASSWORD,
      serveraddress: registry,
    };
  }
  const file = join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  let config: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    config = JSON.parse(readFileSync(file, 'utf8')) as typeof config;
  } catch {
    return undefined;
  }
  const keys =
    registry === 'docker.io'
      ? ['https://index.docker.io/v1/', 'docker.io', 'index.docker.io']
      : [registry, `https://${registry}`, `http://${registry}`];
  for (const key of keys) {
    const entry = config.auths?.[key];
    if (!entry) continue;
    if (entry.username && entry.password)
      return { username: entry.username, password: entry.password, serveraddress: registry };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const at = decoded.indexOf(':');
      if (at > 0)
        return { username: decoded.slice(0, at), password: decoded.slice(at + 1), serveraddress: registry };
    }
  }
  return undefined;
}

/** `registry.example.com/blog:v1` → `registry.example.com`; `nginx` → `docker.io`. */
export function registryOf(image: string): string {
  const first = image.split('/')[0]!;
  const hasRegistry =
    image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return hasRegistry ? first : 'docker.io';
}
