/**
 * The stack's name without `name:`: compose's rule (the spec's folder, lowercased, with what
 * compose drops), where heal watch --repo names the folder as a checkout would, so the daemon and
 * `heal plan` in a clone agree, whichever way the repository's URL is spelled.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SpecError } from '../../src/spec/errors.js';
import { loadStack } from '../../src/spec/load.js';
import { repositoryName, specFolderName } from '../../src/watch/source-git.js';

const root = mkdtempSync(join(tmpdir(), 'heal-stack-name-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SPEC = 'services:\n  web: { image: nginx }\n';

/** The stack name of SPEC written at `folder` (under root), loaded as heal would with `folderName`. */
async function nameIn(folder: string, folderName?: string): Promise<string> {
  const dir = join(root, folder);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'stack.yml'), SPEC);
  const stack = await loadStack({
    file: 'stack.yml',
    cwd: dir,
    environment: {},
    ...(folderName === undefined ? {} : { folderName }),
  });
  return stack.name;
}

describe('repositoryName', () => {
  it.each([
    ['https://host/org/app.git', 'app'],
    ['https://host/org/app', 'app'],
    ['https://host/org/app/', 'app'],
    ['https://host/org/app.git?ref=x#y', 'app'],
    ['ssh://git@host:2222/org/app.git', 'app'],
    ['git@host:org/app.git', 'app'],
    ['git@host:app.git', 'app'],
    ['file:///srv/repos/app.git', 'app'],
    ['/srv/repos/app/.git', 'app'],
    ['../repos/My.App.git', 'My.App'],
  ])('names %s %s, as git clone names its folder', (url, name) => {
    expect(repositoryName(url)).toBe(name);
  });
});

describe('the default stack name', () => {
  it('is the folder of the spec, normalized as compose normalizes project names', async () => {
    expect(await nameIn('My.Shop_2')).toBe('myshop_2');
  });

  it('is the same for heal watch --repo, with the URL spelled either way, and heal plan in a clone', async () => {
    // The daemon's clone lives in a folder named after a hash of the URL: never the stack's name.
    const fromGit = await nameIn(
      'cache/git/0123456789abcdef',
      specFolderName('https://host/org/app.git', 'stack.yml'),
    );
    const spelledOtherwise = await nameIn(
      'cache/git/fedcba9876543210',
      specFolderName('https://host/org/app', 'stack.yml'),
    );
    const checkout = await nameIn('home/me/app');
    expect([fromGit, spelledOtherwise, checkout]).toEqual(['app', 'app', 'app']);
  });

  it('is the spec folder in the repository for a spec in a subfolder, as in a clone', async () => {
    expect(specFolderName('https://host/org/app.git', 'deploy/prod/stack.yml')).toBe('prod');
    expect(
      await nameIn('cache/git/aa', specFolderName('https://host/org/app.git', 'deploy/prod/stack.yml')),
    ).toBe(await nameIn('home/me/app/deploy/prod'));
  });

  it('asks for name: when the folder gives none', async () => {
    const error = await nameIn('x', '...').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SpecError);
    expect((error as SpecError).message).toBe(
      'stack.yml:1:1: cannot take a stack name from the folder "...": set `name:`',
    );
  });
});
