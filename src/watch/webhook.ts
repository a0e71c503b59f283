/**
 * Checks that a push webhook comes from the git host that knows the shared secret. Pure: the
 * caller hands in the headers and the raw body exactly as received (before any JSON parsing, which
 * would change the bytes the signature covers).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type WebhookProvider = 'github' | 'gitlab' | 'gitea';

export type WebhookVerdict = { ok: true; provider: WebhookProvider } | { ok: false; reason: string };

export type WebhookHeaders = Record<string, string | string[] | undefined>;

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. Gitea: `X-Gitea-Signature:
 * <hex HMAC-SHA256>` (Gitea also sends X-Hub-Signature-256, so its own header is checked first).
 * GitLab: `X-Gitlab-Token: <the secret itself>`. An empty secret rejects every request, so a
 * daemon started without one cannot be poked by anybody.
 */
export function verifyWebhook(headers: WebhookHeaders, body: Buffer, secret: string): WebhookVerdict {
  if (secret.length === 0) return { ok: false, reason: 'no webhook secret is configured' };

  const gitea = header(headers, 'x-gitea-signature');
  if (gitea !== undefined) return checkHmac('gitea', 'X-Gitea-Signature', gitea, body, secret);

  const github = header(headers, 'x-hub-signature-256');
  if (github !== undefined) {
    if (typeof github !== 'string') return { ok: false, reason: 'X-Hub-Signature-256 is repeated' };
    if (!github.startsWith('sha256=')) {
      return { ok: false, reason: 'X-Hub-Signature-256 does not start with sha256=' };
    }
    return checkHmac('github', 'X-Hub-Signature-256', github.slice('sha256='.length), body, secret);
  }

  const gitlab = header(headers, 'x-gitlab-token');
  if (gitlab !== undefined) {
    if (typeof gitlab !== 'string') return { ok: false, reason: 'X-Gitlab-Token is repeated' };
    // Compare digests, not the strings: equal lengths for timingSafeEqual, and the token's length
    // does not leak through an early length check.
    const matches = timingSafeEqual(sha256(gitlab), sha256(secret));
    return matches
      ? { ok: true, provider: 'gitlab' }
      : { ok: false, reason: 'X-Gitlab-Token does not match' };
  }

  if (header(headers, 'x-hub-signature') !== undefined) {
    return { ok: false, reason: 'X-Hub-Signature (SHA-1) is not accepted; use X-Hub-Signature-256' };
  }
  return {
    ok: false,
    reason: 'no signature header (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)',
  };
}

function checkHmac(
  provider: WebhookProvider,
  name: string,
  value: string | string[],
  body: Buffer,
  secret: string,
): WebhookVerdict {
  if (typeof value !== 'string') return { ok: false, reason: `${name} is repeated` };
  if (!HEX_SHA256.test(value)) return { ok: false, reason: `${name} is not 64 hexadecimal digits` };
  const expected = createHmac('sha256', secret).update(body).digest();
  const given = Buffer.from(value, 'hex');
  // The regex already fixes the length; checked again because timingSafeEqual throws on a mismatch.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: `${name} does not match the body` };
  }
  return { ok: true, provider };
}

/** Header lookup by lowercase name (Node lowercases incoming names; a caller's record may not). */
function header(headers: WebhookHeaders, lowerName: string): string | string[] | undefined {
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.toLowerCase() !== lowerName) continue;
    if (Array.isArray(value) && value.length === 1) return value[0];
    return value;
  }
  return undefined;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
