import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../bench/lib/args.js';

describe('bench:voice --llm-url', () => {
  it('takes the stand-in with its default pacing, or a server URL, and rejects anything else', () => {
    expect(parseArgs(['--llm-url', 'standin'])).toMatchObject({
      llmUrl: 'standin',
      standinTtftMs: 150,
      standinRate: 80,
    });
    expect(
      parseArgs(['--llm-url', 'standin', '--standin-ttft', '400', '--standin-rate', '30']),
    ).toMatchObject({ standinTtftMs: 400, standinRate: 30 });
    expect(parseArgs(['--llm-url', 'http://10.0.0.5:8081']).llmUrl).toBe('http://10.0.0.5:8081');
    expect(parseArgs([]).llmUrl).toBeNull();
    expect(() => parseArgs(['--llm-url', 'gpu-box'])).toThrow(/--llm-url must be a URL or standin/);
    expect(() => parseArgs(['--llm-url', 'localhost:8081'])).toThrow(/--llm-url must be a URL/);
    expect(() => parseArgs(['--standin-rate', '0'])).toThrow(/--standin-rate/);
  });
});
