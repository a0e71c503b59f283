import { createHmac } from 'node:crypto';
import type { NotifyEvent, NotifyKind } from './notify-events.js';

/** One request to a target, built whole before it is sent, so tests read exactly what goes out. */
export type HttpRequest = {
  readonly url: string;
  readonly method: 'POST';
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
};

export type Forge = 'github' | 'gitlab' | 'gitea';
export const FORGES: readonly Forge[] = ['github', 'gitlab', 'gitea'];

export type WebhookTarget = { readonly url: string; readonly secret: string };

export type CommitStatusTarget = {
  readonly forge: Forge;
  /** The API's base: `https://api.github.com`, `https://gitlab.example.com/api/v4`, `https://gitea.example.com/api/v1`. */
  readonly api: string;
  /** `owner/name`; on GitLab the project's path (`group/sub/name`) or its numeric id. */
  readonly repo: string;
  readonly token: string;
  /** The status's name on the commit; null: `heal/STACK`. */
  readonly context: string | null;
  /** Where the status links to (the daemon's page, a dashboard); null: no link. */
  readonly targetUrl: string | null;
};

/** The header that carries the webhook's signature: `sha256=` and the HMAC-SHA256 of the body, in hex. */
export const SIGNATURE_HEADER = 'X-Heal-Signature-256';

const USER_AGENT = 'heal';

/** `sha256=HEX`: the HMAC-SHA256 of the exact bytes sent, keyed with the shared secret. */
export function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The generic webhook: the event as JSON, signed. `delivery` names this send (the same on a retry). */
export function webhookRequest(target: WebhookTarget, item: NotifyEvent, delivery: string): HttpRequest {
  const body = JSON.stringify({
    source: 'heal',
    event: item.kind,
    severity: severity(item.kind),
    stack: item.stack,
    revision: item.revision,
    host: item.host,
    service: item.service,
    message: item.message,
    at: item.at,
    delivery,
  });
  return {
    url: target.url,
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'User-Agent': USER_AGENT,
      'X-Heal-Event': item.kind,
      'X-Heal-Delivery': delivery,
      [SIGNATURE_HEADER]: sign(target.secret, body),
    },
    body,
  };
}

export function severity(kind: NotifyKind): 'info' | 'warning' | 'error' {
  switch (kind) {
    case 'deploy.started':
    case 'deploy.applied':
    case 'host.up':
      return 'info';
    case 'deploy.superseded':
    case 'deploy.paused':
    case 'deploy.stalled':
      return 'warning';
    default:
      return 'error';
  }
}

/** heal's own words for a commit's state; each forge spells them its way. */
type CommitState = 'pending' | 'success' | 'failure' | 'error';

function commitState(kind: NotifyKind): CommitState | null {
  switch (kind) {
    case 'deploy.started':
      return 'pending';
    case 'deploy.applied':
      return 'success';
    case 'deploy.rolled_back':
    case 'deploy.paused':
    case 'deploy.failed':
    case 'deploy.stalled':
    case 'commit.refused':
      return 'failure';
    case 'deploy.superseded':
      return 'error';
    default:
      return null;
  }
}

/** GitHub's limit on a status's description; the others take more, and a line that long is enough. */
const DESCRIPTION_MAX = 140;

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/**
 * The commit status for an event about a revision (null for the fleet's news and for a local
 * file, which has no commit), as each forge documents it:
 * GitHub `POST /repos/{owner}/{repo}/statuses/{sha}` with `Authorization: Bearer`;
 * GitLab `POST /projects/:id/statuses/:sha` with `PRIVATE-TOKEN` (`running` while applying,
 * `failed`, `canceled`); Gitea `POST /repos/{owner}/{repo}/statuses/{sha}` with `Authorization: token`.
 */
export function commitStatusRequest(target: CommitStatusTarget, item: NotifyEvent): HttpRequest | null {
  const state = commitState(item.kind);
  if (state === null || item.revision === null || !SHA.test(item.revision)) return null;
  const description = truncate(item.message, DESCRIPTION_MAX);
  const context = target.context ?? `heal/${item.stack ?? 'stack'}`;
  const link = target.targetUrl === null ? {} : { target_url: target.targetUrl };
  const api = target.api.replace(/\/+$/, '');
  const json = { 'Content-Type': 'application/json', 'User-Agent': USER_AGENT };
  switch (target.forge) {
    case 'github':
      return {
        url: `${api}/repos/${ownerRepo(target.repo)}/statuses/${item.revision}`,
        method: 'POST',
        headers: {
          ...json,
          Accept: 'application/vnd.github+json',
          Authorization: `Bearer ${target.token}`,
          'X-GitHub-Api-Version': '2022-11-28',
        },
        body: JSON.stringify({ state, description, context, ...link }),
      };
    case 'gitlab':
      return {
        url: `${api}/projects/${encodeURIComponent(target.repo)}/statuses/${item.revision}`,
        method: 'POST',
        headers: { ...json, 'PRIVATE-TOKEN': target.token },
        body: JSON.stringify({ state: GITLAB_STATES[state], name: context, description, ...link }),
      };
    case 'gitea':
      return {
        url: `${api}/repos/${ownerRepo(target.repo)}/statuses/${item.revision}`,
        method: 'POST',
        headers: { ...json, Accept: 'application/json', Authorization: `token ${target.token}` },
        body: JSON.stringify({ state, description, context, ...link }),
      };
  }
}

const GITLAB_STATES: Record<CommitState, string> = {
  pending: 'running',
  success: 'success',
  failure: 'failed',
  error: 'canceled',
};

function ownerRepo(repo: string): string {
  return repo
    .split('/')
    .map((part) => encodeURIComponent(part))
    .join('/');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Where a forge's API is and which repository a clone URL names: `https://github.com/org/app.git`
 * gives `https://api.github.com` and `org/app`; another GitHub host its `/api/v3` (Enterprise
 * Server); GitLab `https://HOST/api/v4`; Gitea `https://HOST/api/v1`. SSH URLs (`git@host:org/app.git`,
 * `ssh://git@host:2222/org/app`) give the host over HTTPS. Credentials in the URL are never kept.
 */
export function forgeFromRepoUrl(forge: Forge, url: string): { api: string; repo: string } | null {
  let origin: string;
  let path: string;
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/)(.+)$/.exec(url);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return null;
    }
    const web = parsed.protocol === 'http:' || parsed.protocol === 'https:';
    origin = web ? `${parsed.protocol}//${parsed.host}` : `https://${parsed.hostname}`;
    path = parsed.pathname;
  } else if (scp) {
    origin = `https://${scp[1]!}`;
    path = scp[2]!;
  } else return null;
  const repo = path
    .replace(/^\/+|\/+$/g, '')
    .replace(/\.git$/, '')
    .trim();
  if (!repo.includes('/')) return null;
  const api =
    forge === 'github'
      ? origin === 'https://github.com'
        ? 'https://api.github.com'
        : `${origin}/api/v3`
      : forge === 'gitlab'
        ? `${origin}/api/v4`
        : `${origin}/api/v1`;
  return { api, repo };
}
