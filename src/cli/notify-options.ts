import { FORGES, forgeFromRepoUrl, type Forge } from '../watch/notify-targets.js';
import type { NotifyConfig } from '../watch/notify.js';
import { UsageError } from './errors.js';

/** `heal watch`'s notification flags, as commander parsed them. */
export type NotifyFlags = {
  readonly repo?: string;
  readonly notifyWebhook?: string;
  readonly notifyTimeout: string;
  readonly commitStatus?: string;
  readonly commitStatusRepo?: string;
  readonly commitStatusApi?: string;
  readonly commitStatusContext?: string;
  readonly commitStatusUrl?: string;
};

/**
 * Where notifications go, from the operator's flags and environment only (secrets from
 * HEAL_NOTIFY_SECRET and HEAL_STATUS_TOKEN, never from argv or the spec); null when none is set.
 */
export function notifyConfig(
  flags: NotifyFlags,
  env: Readonly<Record<string, string | undefined>>,
): NotifyConfig | null {
  const seconds = Number(flags.notifyTimeout);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError(`--notify-timeout: "${flags.notifyTimeout}" is not a number of seconds`);
  const statusFlags = [
    flags.commitStatusRepo,
    flags.commitStatusApi,
    flags.commitStatusContext,
    flags.commitStatusUrl,
  ];
  if (flags.commitStatus === undefined && statusFlags.some((flag) => flag !== undefined))
    throw new UsageError('--commit-status-repo, -api, -context and -url need --commit-status FORGE');
  if (flags.notifyWebhook === undefined && flags.commitStatus === undefined) return null;
  const config: { -readonly [K in keyof NotifyConfig]: NotifyConfig[K] } = { timeoutMs: seconds * 1000 };
  if (flags.notifyWebhook !== undefined) {
    const secret = env.HEAL_NOTIFY_SECRET;
    if (!secret)
      throw new UsageError(
        '--notify-webhook needs HEAL_NOTIFY_SECRET in the environment: every notification is signed with it',
      );
    config.webhook = { url: webUrl('--notify-webhook', flags.notifyWebhook), secret };
  }
  if (flags.commitStatus !== undefined) {
    const forge = flags.commitStatus as Forge;
    if (!FORGES.includes(forge))
      throw new UsageError(`--commit-status: "${flags.commitStatus}" is not one of ${FORGES.join(', ')}`);
    if (flags.repo === undefined)
      throw new UsageError('--commit-status needs --repo: a local file (-f) has no commit to mark');
    const token = env.HEAL_STATUS_TOKEN;
    if (!token) throw new UsageError(`--commit-status ${forge} needs HEAL_STATUS_TOKEN in the environment`);
    const inferred = forgeFromRepoUrl(forge, flags.repo);
    const repo = flags.commitStatusRepo ?? inferred?.repo;
    const api = flags.commitStatusApi ?? inferred?.api;
    if (repo === undefined || api === undefined)
      throw new UsageError(
        `--commit-status: cannot tell the forge's repository and API from --repo; give --commit-status-repo and --commit-status-api`,
      );
    if (forge !== 'gitlab' && !/^[^/\s]+\/[^/\s]+$/.test(repo))
      throw new UsageError(`--commit-status-repo: "${repo}" is not OWNER/NAME`);
    config.commitStatus = {
      forge,
      api: webUrl('--commit-status-api', api),
      repo,
      token,
      context: flags.commitStatusContext ?? null,
      targetUrl:
        flags.commitStatusUrl === undefined ? null : webUrl('--commit-status-url', flags.commitStatusUrl),
    };
  }
  return config;
}

/** An http(s) URL without credentials in it (they would be printed wherever the URL is). */
function webUrl(flag: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Not echoed: a webhook's URL often holds its token.
    throw new UsageError(`${flag}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`${flag}: only http and https URLs are sent to`);
  if (url.username || url.password)
    throw new UsageError(`${flag}: no credentials in the URL; heal reads them from its environment`);
  return text;
}
