import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyWebhook, type WebhookHeaders } from '../../src/watch/webhook.js';

const secret = 'It5-a-s3cret';
const body = Buffer.from('{"ref":"refs/heads/main","after":"0123abcd"}');

function hmac(payload: Buffer, key = secret): string {
  return createHmac('sha256', key).update(payload).digest('hex');
}

/** The body with one byte changed. */
function altered(payload: Buffer): Buffer {
  const copy = Buffer.from(payload);
  copy[5] = (copy[5] ?? 0) ^ 0x01;
  return copy;
}

describe('verifyWebhook: GitHub', () => {
  it('accepts X-Hub-Signature-256 over the raw body', () => {
    const headers = { 'x-hub-signature-256': `sha256=${hmac(body)}`, 'x-github-event': 'push' };
    expect(verifyWebhook(headers, body, secret)).toEqual({ ok: true, provider: 'github' });
  });

  it('accepts the header whatever its case and upper-case hex', () => {
    const headers = { 'X-Hub-Signature-256': `sha256=${hmac(body).toUpperCase()}` };
    expect(verifyWebhook(headers, body, secret)).toEqual({ ok: true, provider: 'github' });
  });

  it('rejects a signature made with another secret', () => {
    const headers = { 'x-hub-signature-256': `sha256=${hmac(body, 'other')}` };
    expect(verifyWebhook(headers, body, secret)).toEqual({
      ok: false,
      reason: 'X-Hub-Signature-256 does not match the body',
    });
  });

  it('rejects a body altered by one byte', () => {
    const headers = { 'x-hub-signature-256': `sha256=${hmac(body)}` };
    expect(verifyWebhook(headers, altered(body), secret)).toEqual({
      ok: false,
      reason: 'X-Hub-Signature-256 does not match the body',
    });
  });

  it('rejects a signature of the wrong length', () => {
    for (const signature of [hmac(body).slice(0, 63), `${hmac(body)}00`, '']) {
      expect(verifyWebhook({ 'x-hub-signature-256': `sha256=${signature}` }, body, secret)).toEqual({
        ok: false,
        reason: 'X-Hub-Signature-256 is not 64 hexadecimal digits',
      });
    }
  });

  it('rejects a signature that is not hex or lacks the sha256= prefix', () => {
    const notHex = `sha256=${'z'.repeat(64)}`;
    expect(verifyWebhook({ 'x-hub-signature-256': notHex }, body, secret)).toEqual({
      ok: false,
      reason: 'X-Hub-Signature-256 is not 64 hexadecimal digits',
    });
    expect(verifyWebhook({ 'x-hub-signature-256': hmac(body) }, body, secret)).toEqual({
      ok: false,
      reason: 'X-Hub-Signature-256 does not start with sha256=',
    });
  });

  it('rejects a repeated header', () => {
    const signature = `sha256=${hmac(body)}`;
    expect(verifyWebhook({ 'x-hub-signature-256': [signature, signature] }, body, secret)).toEqual({
      ok: false,
      reason: 'X-Hub-Signature-256 is repeated',
    });
  });

  it('refuses the SHA-1 X-Hub-Signature alone', () => {
    const sha1 = createHmac('sha1', secret).update(body).digest('hex');
    expect(verifyWebhook({ 'x-hub-signature': `sha1=${sha1}` }, body, secret)).toEqual({
      ok: false,
      reason: 'X-Hub-Signature (SHA-1) is not accepted; use X-Hub-Signature-256',
    });
  });
});

describe('verifyWebhook: Gitea', () => {
  it('accepts X-Gitea-Signature, even beside the X-Hub-Signature-256 Gitea also sends', () => {
    expect(verifyWebhook({ 'x-gitea-signature': hmac(body) }, body, secret)).toEqual({
      ok: true,
      provider: 'gitea',
    });
    const both = { 'x-gitea-signature': hmac(body), 'x-hub-signature-256': `sha256=${hmac(body)}` };
    expect(verifyWebhook(both, body, secret)).toEqual({ ok: true, provider: 'gitea' });
  });

  it('rejects a wrong signature, an altered body and a wrong length', () => {
    const mismatch = { ok: false, reason: 'X-Gitea-Signature does not match the body' };
    expect(verifyWebhook({ 'x-gitea-signature': hmac(body, 'other') }, body, secret)).toEqual(mismatch);
    expect(verifyWebhook({ 'x-gitea-signature': hmac(body) }, altered(body), secret)).toEqual(mismatch);
    expect(verifyWebhook({ 'x-gitea-signature': hmac(body).slice(2) }, body, secret)).toEqual({
      ok: false,
      reason: 'X-Gitea-Signature is not 64 hexadecimal digits',
    });
  });

  it('accepts a header given as a one-element array (as node may hand it over)', () => {
    expect(verifyWebhook({ 'x-gitea-signature': [hmac(body)] }, body, secret)).toEqual({
      ok: true,
      provider: 'gitea',
    });
  });
});

describe('verifyWebhook: GitLab', () => {
  it('accepts X-Gitlab-Token equal to the secret, whatever the body', () => {
    expect(verifyWebhook({ 'x-gitlab-token': secret }, body, secret)).toEqual({
      ok: true,
      provider: 'gitlab',
    });
    expect(verifyWebhook({ 'x-gitlab-token': secret }, altered(body), secret)).toEqual({
      ok: true,
      provider: 'gitlab',
    });
  });

  it('rejects another token, a prefix of the secret, a longer one, and an empty one', () => {
    for (const token of ['other-secret', secret.slice(0, -1), `${secret}x`, '']) {
      expect(verifyWebhook({ 'x-gitlab-token': token }, body, secret)).toEqual({
        ok: false,
        reason: 'X-Gitlab-Token does not match',
      });
    }
  });
});

describe('verifyWebhook: anything else', () => {
  it('rejects a request with no signature header', () => {
    const headers: WebhookHeaders = { 'content-type': 'application/json', 'x-github-event': 'push' };
    expect(verifyWebhook(headers, body, secret)).toEqual({
      ok: false,
      reason: 'no signature header (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)',
    });
  });

  it('treats a header whose value is undefined as missing', () => {
    expect(verifyWebhook({ 'x-gitlab-token': undefined }, body, secret)).toMatchObject({ ok: false });
  });

  it('rejects everything when the secret is empty, valid-looking or not', () => {
    const empty = '';
    const requests: WebhookHeaders[] = [
      { 'x-hub-signature-256': `sha256=${hmac(body, empty)}` },
      { 'x-gitea-signature': hmac(body, empty) },
      { 'x-gitlab-token': empty },
      {},
    ];
    for (const headers of requests) {
      expect(verifyWebhook(headers, body, empty)).toEqual({
        ok: false,
        reason: 'no webhook secret is configured',
      });
    }
  });
});
