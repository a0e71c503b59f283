/**
 * What a spec may reach when `heal watch` loads it. Anyone who can push a commit writes the spec,
 * so it must not be able to read the daemon's own credentials: not through `${VAR}` or
 * `environment: [KEY]` (only variables the operator allows, never `HEAL_*`), and not through a
 * file it names (only inside the checkout, symbolic links resolved, or under a folder the
 * operator allows). The files that decide which SSH servers heal trusts and how it logs in
 * (known_hosts, identity files) come only from the operator's SSH folders, and nothing else is
 * read from those: a secret that names the daemon's private key would copy it into a container.
 *
 * The CLI commands do not confine: a person at a terminal gets compose's behaviour.
 */
import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Lookup, Refused } from './interpolate.js';

export type Confinement = {
  /** Variables of heal's environment the spec may read, besides its `.env`. Never `HEAL_*`. */
  readonly allowEnv: readonly string[];
  /** Folders outside the checkout whose files the spec may read (secrets, configs, env files). */
  readonly allowPaths: readonly string[];
  /** The only folders known_hosts and identity files may come from; never read as data. */
  readonly sshPaths: readonly string[];
  /** How messages name the folder the spec lives in: `the repository`, `the spec's folder`. */
  readonly place: string;
};

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const HEAL_VARIABLE: Refused = { refused: "is heal's own (HEAL_*): heal watch never passes it to the spec" };

/** Names heal reads as its own settings and credentials. Case folded: nobody needs `heal_x` either. */
export function isHealName(name: string): boolean {
  return name.toUpperCase().startsWith('HEAL_');
}

/** Why `--allow-env NAME` cannot be allowed, or null when it can. */
export function allowEnvProblem(name: string): string | null {
  if (!VARIABLE_NAME.test(name)) return `"${name}" is not a variable name`;
  if (isHealName(name))
    return `${name}: names starting with HEAL_ are heal's own settings and credentials; a spec never reads them`;
  return null;
}

/** The variables a confined spec sees from the environment: the allowed ones; `HEAL_*` refused. */
export function confinedEnvironment(
  environment: Readonly<Record<string, string | undefined>>,
  confine: Confinement,
): Lookup {
  const allowed = new Set(confine.allowEnv.filter((name) => allowEnvProblem(name) === null));
  return (name) => {
    if (isHealName(name)) return HEAL_VARIABLE;
    return allowed.has(name) ? environment[name] : undefined;
  };
}

/** The allowed part of an environment: all a confined load needs, so nothing else is handed on. */
export function allowedEnvironment(
  environment: Readonly<Record<string, string | undefined>>,
  confine: Confinement,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of confine.allowEnv) {
    const value = environment[name];
    if (allowEnvProblem(name) === null && value !== undefined) out[name] = value;
  }
  return out;
}

/** The path to use, or why the spec may not name this file. */
export type Passage = { readonly path: string } | { readonly error: string };

/** Decides which files a spec may name. `written` is the path as the spec wrote it, for messages. */
export type FileGate = {
  /** Secrets, configs, env files and the `.env`: the real path to read. */
  readonly specFile: (file: string, written: string) => Passage;
  /** known_hosts and identity files: heal uses them later, as written. */
  readonly sshFile: (file: string, written: string) => Passage;
};

/** The CLI's gate: every file, as named. */
export const OPEN_GATE: FileGate = {
  specFile: (file) => ({ path: file }),
  sshFile: (file) => ({ path: file }),
};

/** heal watch's gate: `root` is the checkout (or the spec's folder for `-f`). */
export function confinedGate(root: string, confine: Confinement): FileGate {
  const home = realPath(resolve(root));
  const allowed = confine.allowPaths.map((dir) => realPath(resolve(dir)));
  const ssh = confine.sshPaths.map((dir) => realPath(resolve(dir)));
  const { place } = confine;
  const outside = `heal watch reads files only inside it or under --allow-path`;
  return {
    specFile(file, written) {
      const real = realPath(file);
      if (ssh.some((dir) => within(real, dir)))
        return {
          error: `${written} is under an --allow-ssh folder; heal watch never reads its own SSH files into a stack`,
        };
      if (within(real, home)) {
        const inside = relative(home, real);
        if (inside === '.git' || inside.startsWith(`.git${sep}`))
          return { error: `${written} is in git's own folder (.git), not in the commit` };
        return { path: real };
      }
      if (allowed.some((dir) => within(real, dir))) return { path: real };
      if (within(resolve(file), home))
        return { error: `${written} resolves to ${real}, outside ${place}; ${outside}` };
      return { error: `${written} is outside ${place}; ${outside}` };
    },
    sshFile(file, written) {
      const real = realPath(file);
      const chosen = `heal watch takes known_hosts and identity files only from an --allow-ssh folder, so that a commit cannot choose which SSH servers heal trusts`;
      if (within(real, home)) return { error: `${written} is inside ${place}; ${chosen}` };
      if (ssh.some((dir) => within(real, dir))) return { path: file };
      return { error: `${written} is not under an --allow-ssh folder; ${chosen}` };
    },
  };
}

/**
 * The path with every symbolic link resolved. A file that does not exist yet (a known_hosts heal
 * will write, a secret the read will report missing) is judged by its folder.
 */
function realPath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    const parent = dirname(file);
    if (parent === file) return file;
    return join(realPath(parent), basename(file));
  }
}

/** Whether `file` is `dir` or inside it (both real paths). */
export function within(file: string, dir: string): boolean {
  const path = relative(dir, file);
  return path === '' || (path !== '..' && !path.startsWith(`..${sep}`) && !isAbsolute(path));
}
