import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from './signature.js';

const secret = 'whsec_test_secret';
const body = '{"event":"call.completed","callId":"c1"}';
const t = 1_700_000_000;
const at = (sec: number) => new Date(sec * 1000);
const hmac = (s: string, ts: number, b: string) =>
  crypto.createHmac('sha256', s).update(`${ts}.${b}`).digest('hex');

describe('signWebhook', () => {
  it('produces t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>">', () => {
    expect(signWebhook(body, secret, t)).toBe(`t=${t},v1=${hmac(secret, t, body)}`);
  });

  it('refuses a timestamp that is not unix seconds', () => {
    expect(() => signWebhook(body, secret, 1.5)).toThrow(RangeError);
  });
});

describe('verifyWebhook', () => {
  const header = `t=${t},v1=${hmac(secret, t, body)}`;

  it('accepts a fresh signature of the exact body', () => {
    expect(verifyWebhook(body, header, secret, 300, at(t + 10))).toBe(true);
  });

  it('rejects a wrong secret, a changed body and a timestamp swapped into the header', () => {
    expect(verifyWebhook(body, header, 'whsec_other', 300, at(t))).toBe(false);
    expect(verifyWebhook(`${body} `, header, secret, 300, at(t))).toBe(false);
    expect(verifyWebhook(body, header.replace(`t=${t}`, `t=${t + 1}`), secret, 300, at(t))).toBe(false);
  });

  it('rejects timestamps older (or newer) than the tolerance', () => {
    expect(verifyWebhook(body, header, secret, 300, at(t + 300))).toBe(true);
    expect(verifyWebhook(body, header, secret, 300, at(t + 301))).toBe(false);
    expect(verifyWebhook(body, header, secret, 300, at(t - 301))).toBe(false);
    expect(verifyWebhook(body, header, secret, 3600, at(t + 301))).toBe(true);
  });

  it('accepts any of several v1 entries (secret rotation)', () => {
    const two = `t=${t},v1=${hmac('whsec_old', t, body)},v1=${hmac(secret, t, body)}`;
    expect(verifyWebhook(body, two, secret, 300, at(t))).toBe(true);
    expect(verifyWebhook(body, two, 'whsec_old', 300, at(t))).toBe(true);
    expect(verifyWebhook(body, two, 'whsec_third', 300, at(t))).toBe(false);
  });

  it('rejects malformed headers without throwing', () => {
    for (const h of [
      undefined,
      null,
      '',
      'garbage',
      `v1=${hmac(secret, t, body)}`,
      `t=${t}`,
      `t=abc,v1=00`,
      `t=${t},v1=zz`,
    ])
      expect(verifyWebhook(body, h, secret, 300, at(t))).toBe(false);
  });

  it('round-trips with signWebhook at the current time', () => {
    const now = Math.floor(Date.now() / 1000);
    expect(verifyWebhook(body, signWebhook(body, secret, now), secret)).toBe(true);
  });
});
