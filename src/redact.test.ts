import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { redactUrl, redactUrls } from './redact.js';

describe('redactUrl', () => {
  it.each([
    ['postgres://app:s3cret@db:5432/agentline', 'postgres://app:***@db:5432/agentline'],
    // Unescaped @, / and # in a password: nothing of it may survive.
    ['postgres://app:p@ss/w#rd@db:5432/x', 'postgres://app:***@db:5432/x'],
    ['postgres://app:pa ss@db/x', 'postgres://app:***@db/x'],
    ['http://ari:hunter2@pbx.internal:8088/ari', 'http://ari:***@pbx.internal:8088/ari'],
    ['https://tok_abc123@llm.example/v1', 'https://***@llm.example/v1'],
    ['https://llm.example/v1?api_key=abc123&model=x', 'https://llm.example/v1?api_key=***&model=x'],
    ['postgres://u:pw@h:99999/db?sslpassword=zz', 'postgres://u:***@h:99999/db?sslpassword=***'],
  ])('%s → %s', (raw, shown) => {
    expect(redactUrl(raw)).toBe(shown);
  });

  it('leaves URLs without credentials exactly as given', () => {
    for (const u of [
      'postgres://postgres@127.0.0.1:5432/postgres',
      'https://calls.example.com/',
      'http://[::1]:8080/x?a=1',
    ])
      expect(redactUrl(u)).toBe(u);
  });

  it('finds URLs in free text', () => {
    expect(redactUrls('connect to http://a:b3@c:1/d failed; retry postgres://x:y@z/w.')).toBe(
      'connect to http://a:***@c:1/d failed; retry postgres://x:***@z/w.',
    );
  });
});

describe('config errors', () => {
  it('show a bad URL without its password', () => {
    let err: unknown;
    try {
      loadConfig({ DATABASE_URL: 'postgres://app:hunter2@db:54x2/agentline' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toContain('DATABASE_URL');
    expect(message).toContain('postgres://app:***@db:54x2/agentline');
    expect(message).not.toContain('hunter2');
    expect(() => loadConfig({ SECRET_KEY: 'x', WEBHOOK_RETRY_FACTOR: 'zz' })).toThrow(/WEBHOOK_RETRY_FACTOR/);
  });
});

describe('logger', () => {
  it('never prints the credentials of a URL, in fields, messages or errors', () => {
    let out = '';
    const sink = new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    });
    const log = createLogger('info', sink).child({ part: 'ari' });
    log.warn(
      { ariUrl: 'http://ari:hunter2@pbx:8088/ari', nested: { list: ['postgres://u:hunter2@db/x'] } },
      'ARI not reachable',
    );
    log.info('connecting to postgres://u:hunter2@db/x');
    log.error({ err: new Error('connect failed for http://u:hunter2@llm.example/v1') }, 'engine failed');
    expect(out.trim().split('\n')).toHaveLength(3);
    expect(out).not.toContain('hunter2');
    expect(out).toContain('http://ari:***@pbx:8088/ari');
    expect(out).toContain('"stack"');
  });
});
