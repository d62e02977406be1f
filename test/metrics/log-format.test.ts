import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';

function sink() {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      out.push(String(chunk));
      done();
    },
  });
  return { out, stream };
}

describe('LOG_FORMAT', () => {
  it('is JSON by default: one object a line', () => {
    expect(loadConfig({}).LOG_FORMAT).toBe('json');
    const { out, stream } = sink();
    createLogger('info', stream, loadConfig({}).LOG_FORMAT).info({ callId: 'c-1' }, 'call answered');
    expect(JSON.parse(out.join(''))).toMatchObject({ callId: 'c-1', msg: 'call answered', svc: 'agentline' });
  });

  it('pretty: readable lines through pino-pretty, still without secrets', () => {
    const config = loadConfig({ LOG_FORMAT: 'pretty' });
    const { out, stream } = sink();
    createLogger('info', stream, config.LOG_FORMAT).info(
      { callId: 'c-2', secret: 'whsec_abc' },
      'call answered',
    );
    const text = out.join('');
    expect(() => JSON.parse(text)).toThrow();
    expect(text).toMatch(/INFO.*call answered/);
    expect(text).toContain('callId: "c-2"');
    expect(text).not.toContain('whsec_abc');
  });

  it('refuses another value, naming the setting', () => {
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT/);
  });
});
