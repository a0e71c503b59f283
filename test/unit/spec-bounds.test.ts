/**
 * A spec is refused before it can use memory: by what its aliases expand to (not only how many
 * nodes), and by what its variables expand to, in the spec and in its .env.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDotenv } from '../../src/spec/dotenv.js';
import { SpecError } from '../../src/spec/errors.js';
import { interpolateTree, MAX_INTERPOLATED_LENGTH } from '../../src/spec/interpolate.js';
import { loadStack } from '../../src/spec/load.js';
import { MAX_EXPANDED_LENGTH, parseYaml } from '../../src/spec/parse.js';

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/** Review H7: one 200 KB scalar aliased 10,000 times, a 235 KB file that expands to 2 GB. */
function byteBomb(withVariable: boolean): string {
  const scalar = 'A'.repeat(200_000) + (withVariable ? '${X}' : '');
  const aliases = Array.from({ length: 10_000 }, () => '*a').join(', ');
  return `x-a: &a "${scalar}"\nname: t\nservices:\n  web:\n    image: nginx\n    command: [${aliases}]\n`;
}

async function loadProblems(files: Readonly<Record<string, string>>): Promise<string[]> {
  const folder = mkdtempSync(join(tmpdir(), 'heal-bounds-'));
  folders.push(folder);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(folder, name), text);
  const outcome = await loadStack({ file: 'stack.yml', cwd: folder, environment: { X: 'x' } }).then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof SpecError)) throw new Error(`expected a SpecError, got ${String(outcome)}`);
  return outcome.message.split('\n');
}

const EXPANDS =
  'stack.yml:1:1: the document expands to more than 16 MiB of text (a large value aliased too often?)';

describe('alias expansion is bounded in bytes, not only in nodes', () => {
  it('refuses the 200 KB x 10,000 alias bomb, with and without a variable in it', async () => {
    expect(byteBomb(true).length).toBeLessThan(250_000);
    expect(await loadProblems({ 'stack.yml': byteBomb(true) })).toEqual([EXPANDS]);
    expect(await loadProblems({ 'stack.yml': byteBomb(false) })).toEqual([EXPANDS]);
  });

  it('counts the key paths it records: a long key over many small nodes', () => {
    const key = 'k'.repeat(1_000_000);
    const items = Array.from({ length: 100_000 }, () => '1').join(',');
    // An explicit key (`? key`): YAML limits implicit keys to 1024 characters.
    const parsed = parseYaml(`? "${key}"\n: [${items}]\n`);
    expect(parsed.problems.map((problem) => problem.message)).toEqual([
      'the document expands to more than 16 MiB of text (a large value aliased too often?)',
    ]);
    // Parsing 100,000 nodes takes seconds on a loaded 2-core machine: a bound, not a timing.
  }, 30_000);

  it('accepts what stays under the bound', () => {
    const scalar = 'A'.repeat(1_000_000);
    const aliases = Array.from({ length: 10 }, () => '*a').join(', ');
    const parsed = parseYaml(`x: &a "${scalar}"\ny: [${aliases}]\n`);
    expect(parsed.problems).toEqual([]);
    expect(MAX_EXPANDED_LENGTH).toBe(16 * 1024 * 1024);
  });
});

describe('interpolation output is bounded', () => {
  it('refuses a variable repeated past the bound, once, and leaves the rest as written', () => {
    const big = 'v'.repeat(1024 * 1024);
    const tree = { a: '${V}'.repeat(10), b: '${V}'.repeat(10), c: '${V}' };
    const result = interpolateTree(tree, (name) => (name === 'V' ? big : undefined));
    expect(result.problems).toEqual([
      {
        path: ['b'],
        message: 'interpolated, the spec would exceed 16 MiB of text (a variable repeated too often?)',
      },
    ]);
    expect((result.value as Record<string, string>).c).toBe('${V}');
    expect(MAX_INTERPOLATED_LENGTH).toBe(16 * 1024 * 1024);
  });

  it('refuses a spec whose .env value is repeated past the bound', async () => {
    const spec = `name: t\nservices:\n  web:\n    image: nginx\n    command: ["${'${BIG}'.repeat(20)}"]\n`;
    expect(await loadProblems({ 'stack.yml': spec, '.env': `BIG=${'b'.repeat(1_000_000)}\n` })).toEqual([
      'stack.yml:5:15 services.web.command[0]: interpolated, the spec would exceed 16 MiB of text (a variable repeated too often?)',
    ]);
  });

  it('refuses a .env whose values double at each line', () => {
    const lines = ['A0=xxxxxxxxxxxxxxxx'];
    for (let index = 1; index <= 40; index += 1) lines.push(`A${index}=\${A${index - 1}}\${A${index - 1}}`);
    const parsed = parseDotenv(lines.join('\n'));
    expect(parsed.problems).toEqual([
      {
        line: 21,
        message: 'interpolated, the spec would exceed 16 MiB of text (a variable repeated too often?)',
      },
    ]);
    expect(parsed.values.has('A21')).toBe(false);
  });
});
