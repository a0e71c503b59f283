import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SpecError } from '../../src/spec/errors.js';
import { loadStack } from '../../src/spec/load.js';

/** Compose files written by others (docker/awesome-compose), kept beside the repository. */
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const corpus = resolve(repositoryRoot, '../shared/corpus/awesome-compose');
const files = existsSync(corpus)
  ? readdirSync(corpus)
      .filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'))
      .sort()
  : [];

type Outcome = { accepted: true; services: string[] } | { accepted: false; error: unknown };

/** Loads a corpus file as heal would: no variables set, so the result does not depend on the machine. */
async function outcome(file: string, builds: 'resolve' | 'skip' = 'skip'): Promise<Outcome> {
  try {
    // The corpus holds the compose files only, not their build contexts, and is no git repository:
    // build keys are checked, and resolving the contexts is what the last test shows failing.
    const stack = await loadStack({ file, cwd: corpus, environment: {}, builds });
    return { accepted: true, services: Object.keys(stack.services) };
  } catch (error) {
    return { accepted: false, error };
  }
}

describe('the awesome-compose corpus', () => {
  if (files.length === 0) {
    it('is not here: nothing to check', () => {
      console.info(
        `note: ${corpus} does not exist or holds no compose files; the corpus test checks nothing`,
      );
    });
    return;
  }

  it.each(files)('%s is accepted, or refused with a key path for every problem', async (file) => {
    const result = await outcome(file);
    if (result.accepted) {
      expect(result.services.length).toBeGreaterThan(0);
      return;
    }
    // Anything but a SpecError is a bug in heal (the CLI would print a stack trace).
    expect(result.error).toBeInstanceOf(SpecError);
    const { problems } = result.error as SpecError;
    expect(problems.length).toBeGreaterThan(0);
    for (const problem of problems) {
      expect(problem.file).toBe(file);
      expect(problem.path, problem.message).not.toBe('');
      expect(problem.line).toBeGreaterThan(0);
      expect(problem.message).not.toMatch(/^\s*at /m);
    }
  });

  it('accepts the samples that only use images, and those that build', async () => {
    const accepted = files.filter((file) =>
      ['gitea-postgres.yaml', 'wordpress-mysql.yaml', 'angular.yaml', 'flask.yaml'].includes(file),
    );
    for (const file of accepted) expect(await outcome(file), file).toMatchObject({ accepted: true });
  });

  it('builds only from git: without the contexts and a repository, a build is refused at its key', async () => {
    if (!files.includes('angular.yaml')) return;
    const refused = await outcome('angular.yaml', 'resolve');
    expect(refused.accepted).toBe(false);
    expect(refused.accepted ? [] : (refused.error as SpecError).message.split('\n')).toEqual([
      `angular.yaml:3:5 services.web.build: heal builds the committed files of the git repository holding the spec, and ${corpus} is in none: commit the spec and the context to git, or build and push the image and set \`image:\` without \`build:\``,
    ]);
  });
});
