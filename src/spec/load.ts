import { basename, dirname, resolve } from 'node:path';
import { Check } from './check.js';
import { confinedEnvironment, confinedGate, OPEN_GATE, type Confinement, type FileGate } from './confine.js';
import { parseDotenv, parseRawEnv, type DotenvProblem } from './dotenv.js';
import { resolveBuilds } from './build-source.js';
import { formatProblem, SpecError, sortProblems, type KeyPath, type SpecProblem } from './errors.js';
import { interpolateTree, type Lookup } from './interpolate.js';
import { normalizeStack } from './normalize.js';
import type { ReadEnvFile } from './normalize-service.js';
import { parseYaml } from './parse.js';
import {
  MAX_SIDE_FILE_BYTES,
  MAX_SPEC_BYTES,
  readLimited,
  readStreamLimited,
  type ReadResult,
} from './read.js';
import type { Stack } from './types.js';

export type LoadOptions = {
  /** A path, or `-` for stdin. */
  readonly file: string;
  /** Another variables file instead of the `.env` beside the spec (which must then exist). */
  readonly envFile?: string;
  /** The process environment: it wins over the env file. */
  readonly environment: Readonly<Record<string, string | undefined>>;
  /** Where `-` reads from. */
  readonly stdin?: AsyncIterable<Buffer | string>;
  /** The folder relative paths resolve against when the spec comes from stdin. */
  readonly cwd: string;
  /**
   * What the spec's folder is called, for the stack's default name; default its name on disk.
   * heal watch --repo passes the name a checkout's folder would have (source-types.ts).
   */
  readonly folderName?: string;
  /**
   * heal watch: what a commit may reach (confine.ts). Variables come only from the env file and
   * the allowed names, and files only from inside `cwd` (the checkout) or an allowed folder.
   * Without it, compose's behaviour: the whole environment, any file.
   */
  readonly confine?: Confinement;
  /**
   * `resolve` (default): a service with `build:` gets its image from the committed context at the
   * repository's HEAD (build-source.ts), which must be in git. `skip`: build keys are checked and
   * not resolved (a stack only shown, never planned: the planner refuses an unresolved build).
   */
  readonly builds?: 'resolve' | 'skip';
};

/**
 * Loads a spec in named phases: read, parse, interpolate, validate and normalize, hash, freeze.
 * Throws a SpecError listing every problem found; a stack it returns is deeply frozen.
 */
export async function loadStack(options: LoadOptions): Promise<Stack> {
  const fromStdin = options.file === '-';
  const label = fromStdin ? '<stdin>' : options.file;
  const dir = fromStdin ? resolve(options.cwd) : dirname(resolve(options.cwd, options.file));

  const read: ReadResult = fromStdin
    ? await readStreamLimited(options.stdin ?? process.stdin, MAX_SPEC_BYTES)
    : readLimited(resolve(options.cwd, options.file), MAX_SPEC_BYTES);
  if ('error' in read) throw new SpecError([fileProblem(label, read.error)]);

  const parsed = parseYaml(read.text.toString('utf8'));
  if (parsed.problems.length > 0) {
    throw new SpecError(
      parsed.problems.map(({ position, message }) => ({ file: label, ...position, path: '', message })),
    );
  }

  const check = new Check(label, parsed.source);
  const gate = options.confine ? confinedGate(options.cwd, options.confine) : OPEN_GATE;
  const lookup = variables(options, dir, check, gate);
  if (check.problems.length > 0) throw new SpecError(check.problems);

  const interpolated = interpolateTree(parsed.tree, lookup);
  for (const problem of interpolated.problems) check.fail(problem.path, problem.message);
  const uninterpolated = new Set(check.problems.map((problem) => problem.path));
  const interpolationProblems = check.problems.length;

  const normalized = normalizeStack(
    {
      tree: interpolated.value,
      source: parsed.source,
      file: label,
      dir,
      folderName: options.folderName ?? basename(dir),
      lookup,
      readBytes: (file, written, path) => readSideFile(check, gate, file, written, path),
      sshFile: (file, written, path) => {
        const passage = gate.sshFile(file, written);
        return 'error' in passage ? (check.fail(path, passage.error) ?? null) : passage.path;
      },
      readEnvFile: envFileReader(check, gate, dir, lookup),
    },
    check,
  );
  const stack =
    normalized && check.problems.length === 0 && options.builds !== 'skip'
      ? await withBuilds(normalized, check, options.confine ? options.cwd : null)
      : normalized;
  // A value left as its `${...}` template is reported once, not again as an invalid value.
  const problems = check.problems.filter(
    (problem, index) => index < interpolationProblems || !uninterpolated.has(problem.path),
  );
  if (problems.length > 0 || !stack) throw new SpecError(sortProblems(problems));
  return deepFreeze(stack);
}

/** The stack with every built service's image resolved from git, and the warnings that adds. */
async function withBuilds(stack: Stack, check: Check, root: string | null): Promise<Stack> {
  const services = { ...stack.services };
  await resolveBuilds(check, services, stack, stack.dir, root);
  return { ...stack, services, warnings: sortProblems(check.warnings).map(formatProblem) };
}

/** The environment first (only its allowed names when confined), then the variables file. */
function variables(options: LoadOptions, dir: string, check: Check, gate: FileGate): Lookup {
  const environment: Lookup = options.confine
    ? confinedEnvironment(options.environment, options.confine)
    : (name) => options.environment[name];
  const explicit = options.envFile !== undefined;
  // The operator's --env-file is theirs; the `.env` beside the spec is the commit's, so it is gated.
  const file = explicit ? resolve(options.cwd, options.envFile!) : resolve(dir, '.env');
  const passage = explicit ? { path: file } : gate.specFile(file, '.env');
  if ('error' in passage) {
    check.problems.push(fileProblem(file, passage.error));
    return environment;
  }
  const read = readLimited(passage.path, MAX_SIDE_FILE_BYTES);
  if ('error' in read) {
    if (explicit || !read.error.startsWith('does not exist'))
      check.fail([], `env file ${file} ${read.error}`);
    return environment;
  }
  const dotenv = parseDotenv(read.text.toString('utf8'), environment);
  for (const problem of dotenv.problems)
    check.problems.push(fileProblem(`${file}:${problem.line}`, problem.message));
  return (name) => environment(name) ?? dotenv.values.get(name);
}

function readSideFile(
  check: Check,
  gate: FileGate,
  file: string,
  written: string,
  path: KeyPath,
): Buffer | undefined {
  const passage = gate.specFile(file, written);
  if ('error' in passage) return check.fail(path, passage.error);
  const read = readLimited(passage.path, MAX_SIDE_FILE_BYTES);
  if ('error' in read) return check.fail(path, `${file} ${read.error}`);
  return read.text;
}

type EnvFile = { readonly error: string } | { values: Map<string, string>; problems: DotenvProblem[] };

/**
 * Reads services' env files. Each file is read and parsed once however many services name it,
 * so a large one named by every service costs its size once.
 */
function envFileReader(check: Check, gate: FileGate, dir: string, lookup: Lookup): ReadEnvFile {
  const parsed = new Map<string, EnvFile>();
  const parse = (file: string, format: 'dotenv' | 'raw'): EnvFile => {
    const read = readLimited(file, MAX_SIDE_FILE_BYTES);
    if ('error' in read) return read;
    const text = read.text.toString('utf8');
    return format === 'raw' ? parseRawEnv(text) : parseDotenv(text, lookup);
  };
  return (written, path, required, format = 'dotenv', kind = 'env file') => {
    const passage = gate.specFile(resolve(dir, written), written);
    if ('error' in passage) return check.fail(path, passage.error);
    const key = `${format}:${passage.path}`;
    const envFile = parsed.get(key) ?? parse(passage.path, format);
    parsed.set(key, envFile);
    if ('error' in envFile) {
      if (!required && envFile.error === 'does not exist') return new Map();
      return check.fail(path, `${kind} ${written} ${envFile.error}`);
    }
    // Values of an env file are secrets: a problem names the line, never the value.
    for (const problem of envFile.problems)
      check.fail(path, `${kind} ${written} line ${problem.line}: ${problem.message}`);
    return envFile.values;
  };
}

function fileProblem(file: string, message: string): SpecProblem {
  return { file, line: 0, col: 0, path: '', message };
}

/** Freezes every object reachable through own enumerable properties. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
