import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { containerConfig } from '../../../src/planner/container-config.js';
import { SpecError } from '../../../src/spec/errors.js';
import { loadStack } from '../../../src/spec/load.js';
import type { Stack } from '../../../src/spec/types.js';

/*
 * heal against the cases of compose-go's loader tests (compose-spec/compose-go, loader/*_test.go),
 * each rewritten as a fixture in fixtures/: a compose file whose `x-conformance` block names the
 * compose-go cases it stands for and what heal does with them. heal either applies what compose
 * means (`applies`: values of the loaded Stack and of the Engine create body), accepts it with a
 * warning where it means nothing on a plain Docker host (`warns`), or refuses it with a reason
 * (`refuses`). The expectations are heal's own, written from the compose-go case and the spec.
 */

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

type Expectation = {
  /** compose-go test functions, each with an optional detail after a space (`TestFullExample ipam`). */
  readonly 'compose-go'?: readonly string[];
  /** Rules of the compose specification's text that no compose-go loader test states. */
  readonly spec?: readonly string[];
  /** Load with HOME set to the fixtures folder, for `~` paths. */
  readonly home?: boolean;
  readonly outcome: 'applies' | 'warns' | 'refuses';
  readonly env?: Readonly<Record<string, string>>;
  /** `services/web/extraHosts` → the value in the loaded Stack (null: absent). */
  readonly stack?: Readonly<Record<string, unknown>>;
  /** service → `HostConfig/ExtraHosts` → the value in its create body (slot 1). */
  readonly body?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Each a part of one warning (`warns`) or of one problem (`refuses`). */
  readonly warnings?: readonly string[];
  readonly problems?: readonly string[];
};

const files = readdirSync(fixtures)
  .filter((name) => name.endsWith('.yml'))
  .sort();

function expectation(file: string): Expectation {
  const tree = parse(readFileSync(join(fixtures, file), 'utf8')) as { 'x-conformance': Expectation };
  return tree['x-conformance'];
}

/** `<dir>` in an expected value stands for the fixtures folder. */
function resolveDir(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll('<dir>', fixtures.replace(/\/$/, ''));
  if (Array.isArray(value)) return value.map(resolveDir);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, resolveDir(item)]));
  return value;
}

async function load(file: string, expected: Expectation): Promise<Stack> {
  const home = process.env.HOME;
  if (expected.home) process.env.HOME = fixtures.replace(/\/$/, '');
  try {
    return await loadStack({ file, cwd: fixtures, environment: expected.env ?? {} });
  } finally {
    process.env.HOME = home;
  }
}

function at(value: unknown, path: string): unknown {
  return path.split('/').reduce<unknown>((node, key) => {
    if (node === null || typeof node !== 'object') return undefined;
    return (node as Record<string, unknown>)[key];
  }, value);
}

function body(stack: Stack, service: string): unknown {
  const found = stack.services[service];
  if (!found) throw new Error(`no service ${service}`);
  return containerConfig({
    stack,
    service: found,
    slot: 1,
    host: 'h1',
    name: `${stack.name}-${service}-1`,
    generation: 'g1',
    revision: null,
  });
}

/** compose-go test functions by what heal does with (part of) them; a function may be in two. */
const covered = { applies: new Set<string>(), warns: new Set<string>(), refuses: new Set<string>() };
const specRules = new Set<string>();

afterAll(() => {
  const all = new Set([...covered.applies, ...covered.warns, ...covered.refuses]);
  console.info(
    `compose-go conformance: ${all.size} compose-go test cases covered by ${files.length} fixtures ` +
      `(applied ${covered.applies.size}, accepted with a warning ${covered.warns.size}, ` +
      `refused with a reason ${covered.refuses.size}), and ${specRules.size} rules of the spec text`,
  );
});

describe('compose-go conformance', () => {
  it.each(files)('%s', async (file) => {
    const expected = expectation(file);
    expect(expected, `${file} has no x-conformance block`).toBeDefined();
    const loading = load(file, expected);
    if (expected.outcome === 'refuses') {
      const error = await loading.then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error, `${file} loaded`).toBeInstanceOf(SpecError);
      const messages = (error as SpecError).problems.map((problem) => `${problem.path}: ${problem.message}`);
      for (const part of expected.problems ?? [])
        expect(messages.join('\n')).toContain(resolveDir(part) as string);
      expect(expected.problems?.length ?? 0, `${file} names no problem`).toBeGreaterThan(0);
    } else {
      const stack = await loading;
      for (const [path, value] of Object.entries(expected.stack ?? {}))
        expect(at(stack, path) ?? null, `${file}: ${path}`).toEqual(resolveDir(value));
      for (const [service, paths] of Object.entries(expected.body ?? {}))
        for (const [path, value] of Object.entries(paths))
          expect(at(body(stack, service), path) ?? null, `${file}: ${service} ${path}`).toEqual(value);
      const warnings = stack.warnings.join('\n');
      for (const part of expected.warnings ?? []) expect(warnings).toContain(part);
      if (expected.outcome === 'applies') expect(stack.warnings, file).toEqual([]);
      else expect(expected.warnings?.length ?? 0, `${file} names no warning`).toBeGreaterThan(0);
    }
    for (const name of expected['compose-go'] ?? []) covered[expected.outcome].add(name.split(' ')[0]!);
    for (const rule of expected.spec ?? []) specRules.add(rule);
    expect((expected['compose-go']?.length ?? 0) + (expected.spec?.length ?? 0), file).toBeGreaterThan(0);
  });
});
