import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { notifyConfig, type NotifyFlags } from '../../src/cli/notify-options.js';
import { SpecError } from '../../src/spec/errors.js';
import { loadStack } from '../../src/spec/load.js';
import type { HostView } from '../../src/watch/host-states.js';
import {
  Dedupe,
  Notices,
  PROGRESS_DEADLINE_MS,
  type NotifyEvent,
  type ReconcileView,
} from '../../src/watch/notify-events.js';
import {
  commitStatusRequest,
  forgeFromRepoUrl,
  severity,
  sign,
  webhookRequest,
  type CommitStatusTarget,
} from '../../src/watch/notify-targets.js';

const T0 = Date.parse('2026-12-06T00:00:00Z');
const R1 = 'a'.repeat(40);
const R2 = 'b'.repeat(40);
const R3 = 'c'.repeat(40);

const up = (name: string): HostView => ({ name, state: 'up', since: 0, error: null });
const down = (name: string): HostView => ({ name, state: 'down', since: 0, error: 'timeout' });

function view(partial: Partial<ReconcileView>): ReconcileView {
  return {
    stack: 'blog',
    revision: R1,
    outcome: 'converged',
    actions: 0,
    message: null,
    hosts: [up('h1'), up('h2')],
    crashLooping: [],
    ...partial,
  };
}

const kinds = (events: readonly NotifyEvent[]): string[] => events.map((item) => item.kind);

describe('Notices: what the daemon tells, each once', () => {
  it('follows a deploy from its load to its end, silent about the stack it found at start', () => {
    const notices = new Notices();
    expect(notices.loaded('blog', R1, true, T0)).toEqual([]);
    expect(notices.reconciled(view({ revision: R1 }), T0)).toEqual([]);

    const started = notices.loaded('blog', R2, false, T0);
    expect(started).toEqual([
      {
        kind: 'deploy.started',
        stack: 'blog',
        revision: R2,
        host: null,
        service: null,
        message: `applying ${R2.slice(0, 12)} to blog`,
        at: '2026-12-06T00:00:00.000Z',
      },
    ]);
    expect(notices.reconciled(view({ revision: R2, outcome: 'applying', actions: 3 }), T0)).toEqual([]);
    const applied = notices.reconciled(view({ revision: R2 }), T0);
    expect(kinds(applied)).toEqual(['deploy.applied']);
    expect(applied[0]!.message).toBe(`${R2.slice(0, 12)} applied to blog`);
    // Converged again on the next resync: nothing more to say.
    expect(notices.reconciled(view({ revision: R2 }), T0)).toEqual([]);
  });

  it('says a rollback with the reason the apply gave, and a failed reconcile each time (Dedupe thins them)', () => {
    const notices = new Notices();
    notices.loaded('blog', R1, true, T0);
    notices.loaded('blog', R2, false, T0);
    const reason = 'web: 2 of 3 replicas of the batch failed (max_failure_ratio 0)';
    expect(
      notices.reconciled(view({ revision: R2, outcome: 'applying', actions: 3, message: reason }), T0),
    ).toEqual([]);
    const back = notices.reconciled(view({ revision: R2, outcome: 'rolled_back', message: '' }), T0);
    expect(back.map((item) => [item.kind, item.message])).toEqual([
      ['deploy.rolled_back', `${R2.slice(0, 12)} rolled back: ${reason}`],
    ]);
    expect(notices.reconciled(view({ revision: R2, outcome: 'rolled_back' }), T0)).toEqual([]);

    notices.loaded('blog', R3, false, T0);
    expect(
      kinds(notices.reconciled(view({ revision: R3, outcome: 'failed', message: 'h1: pull' }), T0)),
    ).toEqual(['deploy.failed']);
    // Tried again and converged: the deploy still says it was applied.
    expect(kinds(notices.reconciled(view({ revision: R3 }), T0))).toEqual(['deploy.applied']);
  });

  it('announces the first deploy of a restarted daemon only once it acts, then its end', () => {
    const notices = new Notices();
    notices.loaded('blog', R1, true, T0);
    expect(kinds(notices.reconciled(view({ outcome: 'applying', actions: 2 }), T0))).toEqual([
      'deploy.started',
    ]);
    expect(kinds(notices.reconciled(view({ outcome: 'paused', message: 'web paused' }), T0))).toEqual([
      'deploy.paused',
    ]);
  });

  it('says a deploy replaced before it converged was superseded, and a refused commit', () => {
    const notices = new Notices();
    notices.loaded('blog', R1, true, T0);
    notices.loaded('blog', R2, false, T0);
    const next = notices.loaded('blog', R3, false, T0);
    expect(next.map((item) => [item.kind, item.revision])).toEqual([
      ['deploy.superseded', R2],
      ['deploy.started', R3],
    ]);
    const refused = notices.rejected('blog', R3, `revision ${R3.slice(0, 12)}: stack.yml:3:1 bad`, T0);
    expect(refused.map((item) => [item.kind, item.revision])).toEqual([['commit.refused', R3]]);
    // The refused revision is no deploy any more: the fallback converging says nothing.
    expect(notices.reconciled(view({ revision: R1 }), T0)).toEqual([]);
  });

  it('says a deploy still applying past the progress deadline is stalled, once, and still says its end', () => {
    const notices = new Notices();
    notices.loaded('blog', R1, true, T0);
    notices.loaded('blog', R2, false, T0);
    const waiting = view({ revision: R2, outcome: 'applying', actions: 1, message: 'web.3: no host fits' });
    expect(notices.reconciled(waiting, T0 + PROGRESS_DEADLINE_MS - 1)).toEqual([]);
    const stalled = notices.reconciled(waiting, T0 + PROGRESS_DEADLINE_MS);
    expect(stalled.map((item) => [item.kind, item.message])).toEqual([
      ['deploy.stalled', `${R2.slice(0, 12)} not applied after 10 min: web.3: no host fits`],
    ]);
    expect(severity('deploy.stalled')).toBe('warning');
    expect(notices.reconciled(waiting, T0 + 2 * PROGRESS_DEADLINE_MS)).toEqual([]);
    expect(kinds(notices.reconciled(view({ revision: R2 }), T0 + 2 * PROGRESS_DEADLINE_MS))).toEqual([
      'deploy.applied',
    ]);
  });

  it('says a host down once and back once, and a service that begins crash-looping', () => {
    const notices = new Notices();
    notices.loaded('blog', R1, true, T0);
    const lost = notices.reconciled(view({ hosts: [up('h1'), down('h2')] }), T0);
    expect(lost.map((item) => [item.kind, item.host, item.message])).toEqual([
      ['host.down', 'h2', 'host h2 is down (timeout): its replicas move'],
    ]);
    expect(notices.reconciled(view({ hosts: [up('h1'), down('h2')] }), T0)).toEqual([]);
    expect(kinds(notices.reconciled(view({ hosts: [up('h1'), up('h2')] }), T0))).toEqual(['host.up']);
    expect(notices.reconciled(view({ hosts: [up('h1'), up('h2')] }), T0)).toEqual([]);

    expect(kinds(notices.reconciled(view({ crashLooping: ['web'] }), T0))).toEqual(['service.crashlooping']);
    expect(notices.reconciled(view({ crashLooping: ['web'] }), T0)).toEqual([]);
    expect(notices.reconciled(view({ crashLooping: [] }), T0)).toEqual([]);
    expect(kinds(notices.reconciled(view({ crashLooping: ['web'] }), T0))).toEqual(['service.crashlooping']);
  });
});

describe('Dedupe: identical events at most hourly', () => {
  const item = (partial: Partial<NotifyEvent>): NotifyEvent => ({
    kind: 'deploy.failed',
    stack: 'blog',
    revision: R1,
    host: null,
    service: null,
    message: 'failed: h1 timeout after 5012 ms',
    at: '',
    ...partial,
  });

  it('lets one through per hour per kind and subject, whatever its changing words', () => {
    const dedupe = new Dedupe();
    expect(dedupe.admit(item({}), T0)).toBe(true);
    expect(dedupe.admit(item({ message: 'failed: h1 timeout after 5020 ms' }), T0 + 1_000)).toBe(false);
    expect(dedupe.admit(item({ revision: R2 }), T0 + 1_000)).toBe(true);
    expect(dedupe.admit(item({ kind: 'host.down', revision: null, host: 'h1' }), T0)).toBe(true);
    expect(dedupe.admit(item({ kind: 'host.down', revision: null, host: 'h2' }), T0)).toBe(true);
    expect(dedupe.admit(item({}), T0 + 3_599_999)).toBe(false);
    expect(dedupe.admit(item({}), T0 + 3_600_000)).toBe(true);
  });

  it('tells refused saves of a file (no revision) apart by their error, and stays bounded', () => {
    const dedupe = new Dedupe(3_600_000, 10);
    const refused = (message: string) => item({ kind: 'commit.refused', revision: null, message });
    expect(dedupe.admit(refused('a: bad'), T0)).toBe(true);
    expect(dedupe.admit(refused('a: bad'), T0)).toBe(false);
    expect(dedupe.admit(refused('b: bad'), T0)).toBe(true);
    for (let i = 0; i < 50; i++) dedupe.admit(item({ host: `h${i}` }), T0);
    expect(dedupe.size).toBe(10);
  });
});

const sample: NotifyEvent = {
  kind: 'deploy.applied',
  stack: 'blog',
  revision: R1,
  host: null,
  service: null,
  message: `${R1.slice(0, 12)} applied to blog`,
  at: '2026-12-06T00:00:00.000Z',
};

describe('the webhook', () => {
  it('signs with HMAC-SHA256 as GitHub does (a published test vector)', () => {
    expect(sign('key', 'The quick brown fox jumps over the lazy dog')).toBe(
      'sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
    );
  });

  it('sends the event as JSON, its signature over the exact body, and no secret', () => {
    const request = webhookRequest(
      { url: 'https://hooks.example/heal', secret: 's3cret-value' },
      sample,
      'd-1',
    );
    expect(JSON.parse(request.body)).toEqual({
      source: 'heal',
      event: 'deploy.applied',
      severity: 'info',
      stack: 'blog',
      revision: R1,
      host: null,
      service: null,
      message: sample.message,
      at: sample.at,
      delivery: 'd-1',
    });
    expect(request.headers).toEqual({
      'Content-Type': 'application/json',
      'User-Agent': 'heal',
      'X-Heal-Event': 'deploy.applied',
      'X-Heal-Delivery': 'd-1',
      'X-Heal-Signature-256': sign('s3cret-value', request.body),
    });
    expect(JSON.stringify(request)).not.toContain('s3cret-value');
  });
});

describe('commit statuses', () => {
  const target = (forge: CommitStatusTarget['forge'], api: string, repo: string): CommitStatusTarget => ({
    forge,
    api,
    repo,
    token: 'tok-123456',
    context: null,
    targetUrl: 'https://heal.example/',
  });

  it('GitHub: POST /repos/OWNER/REPO/statuses/SHA, Bearer, its media type and API version', () => {
    const request = commitStatusRequest(target('github', 'https://api.github.com/', 'org/app'), sample)!;
    expect(request.url).toBe(`https://api.github.com/repos/org/app/statuses/${R1}`);
    expect(request.headers).toMatchObject({
      Authorization: 'Bearer tok-123456',
      Accept: 'application/vnd.github+json',
      'X-GitHub-Api-Version': '2022-11-28',
    });
    expect(JSON.parse(request.body)).toEqual({
      state: 'success',
      description: sample.message,
      context: 'heal/blog',
      target_url: 'https://heal.example/',
    });
  });

  it("GitLab: POST /projects/:id/statuses/:sha with the project's path encoded, PRIVATE-TOKEN, its states", () => {
    const gitlab = target('gitlab', 'https://gitlab.example/api/v4', 'group/sub/app');
    const started = commitStatusRequest(gitlab, { ...sample, kind: 'deploy.started' })!;
    expect(started.url).toBe(`https://gitlab.example/api/v4/projects/group%2Fsub%2Fapp/statuses/${R1}`);
    expect(started.headers['PRIVATE-TOKEN']).toBe('tok-123456');
    expect(started.headers).not.toHaveProperty('Authorization');
    expect(JSON.parse(started.body)).toMatchObject({ state: 'running', name: 'heal/blog' });
    const failed = commitStatusRequest(gitlab, { ...sample, kind: 'deploy.rolled_back' })!;
    expect(JSON.parse(failed.body)).toMatchObject({ state: 'failed' });
    const superseded = commitStatusRequest(gitlab, { ...sample, kind: 'deploy.superseded' })!;
    expect(JSON.parse(superseded.body)).toMatchObject({ state: 'canceled' });
  });

  it('Gitea: POST /repos/OWNER/REPO/statuses/SHA with `token` auth; descriptions cut to 140', () => {
    const long = { ...sample, kind: 'commit.refused' as const, message: 'x'.repeat(300) };
    const request = commitStatusRequest(target('gitea', 'https://git.example/api/v1', 'org/app'), long)!;
    expect(request.url).toBe(`https://git.example/api/v1/repos/org/app/statuses/${R1}`);
    expect(request.headers.Authorization).toBe('token tok-123456');
    const body = JSON.parse(request.body) as { state: string; description: string };
    expect(body.state).toBe('failure');
    expect(body.description).toHaveLength(140);
  });

  it('marks only commits: no status for the fleet’s news or a local file', () => {
    const github = target('github', 'https://api.github.com', 'org/app');
    expect(
      commitStatusRequest(github, { ...sample, kind: 'host.down', revision: null, host: 'h1' }),
    ).toBeNull();
    expect(commitStatusRequest(github, { ...sample, revision: null })).toBeNull();
    expect(commitStatusRequest(github, { ...sample, revision: '../../x' })).toBeNull();
  });

  it("finds the forge's API and repository in the clone URL", () => {
    expect(forgeFromRepoUrl('github', 'https://github.com/org/app.git')).toEqual({
      api: 'https://api.github.com',
      repo: 'org/app',
    });
    expect(forgeFromRepoUrl('github', 'git@ghe.corp:org/app.git')).toEqual({
      api: 'https://ghe.corp/api/v3',
      repo: 'org/app',
    });
    expect(forgeFromRepoUrl('gitlab', 'ssh://git@gitlab.corp:2222/group/sub/app.git')).toEqual({
      api: 'https://gitlab.corp/api/v4',
      repo: 'group/sub/app',
    });
    expect(forgeFromRepoUrl('gitea', 'http://user:pw@10.0.0.5:3000/org/app')).toEqual({
      api: 'http://10.0.0.5:3000/api/v1',
      repo: 'org/app',
    });
    expect(forgeFromRepoUrl('gitea', '/srv/git/app.git')).toBeNull();
  });
});

describe("heal watch's notification flags", () => {
  const flags = (extra: Partial<NotifyFlags>): NotifyFlags => ({ notifyTimeout: '10', ...extra });

  it('needs the secret and the token from the environment, and never echoes a URL', () => {
    expect(notifyConfig(flags({}), {})).toBeNull();
    expect(() => notifyConfig(flags({ notifyWebhook: 'https://h.example/x' }), {})).toThrow(
      /HEAL_NOTIFY_SECRET/,
    );
    expect(() =>
      notifyConfig(flags({ notifyWebhook: 'not a url/T0K3N' }), { HEAL_NOTIFY_SECRET: 's' }),
    ).toThrow(/^--notify-webhook: not a URL$/);
    expect(() =>
      notifyConfig(flags({ notifyWebhook: 'https://u:p@h.example/' }), { HEAL_NOTIFY_SECRET: 's' }),
    ).toThrow(/no credentials/);
    expect(() => notifyConfig(flags({ commitStatus: 'github', repo: 'https://github.com/o/a' }), {})).toThrow(
      /HEAL_STATUS_TOKEN/,
    );
    expect(() => notifyConfig(flags({ commitStatus: 'github' }), { HEAL_STATUS_TOKEN: 't' })).toThrow(
      /--repo/,
    );
    expect(() => notifyConfig(flags({ commitStatus: 'bitbucket' }), {})).toThrow(/github, gitlab, gitea/);
  });

  it('reads the forge from --repo unless told', () => {
    const config = notifyConfig(
      flags({
        commitStatus: 'gitlab',
        repo: 'https://gitlab.example/group/app.git',
        commitStatusContext: 'deploy',
      }),
      { HEAL_STATUS_TOKEN: 'tok' },
    );
    expect(config?.commitStatus).toEqual({
      forge: 'gitlab',
      api: 'https://gitlab.example/api/v4',
      repo: 'group/app',
      token: 'tok',
      context: 'deploy',
      targetUrl: null,
    });
  });
});

describe('the spec', () => {
  const folder = mkdtempSync(join(tmpdir(), 'heal-notify-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('refuses notification keys under x-heal, saying where they go', async () => {
    writeFileSync(
      join(folder, 'stack.yml'),
      [
        'name: t',
        'x-heal:',
        '  notify: { webhook: https://x }',
        '  watch: { webhook: https://x }',
        'services:',
        '  web: { image: nginx }',
      ].join('\n'),
    );
    const error = await loadStack({ file: 'stack.yml', cwd: folder, environment: {} }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SpecError);
    const lines = (error as SpecError).message.split('\n');
    const why =
      "notifications are not configured in the spec (anyone who can push would read or redirect them): use heal watch's --notify-webhook and --commit-status flags, with HEAL_NOTIFY_SECRET and HEAL_STATUS_TOKEN in its environment";
    expect(lines).toEqual([
      `stack.yml:3:3 x-heal.notify: ${why}`,
      `stack.yml:4:12 x-heal.watch.webhook: ${why}`,
    ]);
  });
});
