import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findNumber, findTime } from './callee-words.js';
import { BUNDLED_SCENARIOS_DIR, loadScenarioDir, ScenarioError } from './scenario.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'scenarios-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await fs.writeFile(path.join(dir, name), text);
  return dir;
}

describe('scenario files', () => {
  it('ships one valid scenario for each documented number', async () => {
    const numbers = (await loadScenarioDir(BUNDLED_SCENARIOS_DIR)).map((s) => s.number).sort();
    expect(numbers).toEqual([
      '*',
      ...Array.from({ length: 8 }, (_, i) => `+1415555010${i}`),
      '+14155550120',
      '+14155550121',
      '+14155550140',
      '+14155550160',
      '+14155550161',
      '+14155550162',
    ]);
  });

  it('names the file and the field of a bad scenario', async () => {
    const dir = await dirWith({
      'bad.json': JSON.stringify({
        number: '+14155550199',
        outcome: 'answer',
        states: { start: { rules: [{ match: 'keywords', goto: 'nowhere' }] } },
      }),
    });
    const err = await loadScenarioDir(dir).catch((e) => e);
    expect(err).toBeInstanceOf(ScenarioError);
    expect(err.message).toContain('bad.json');
    expect(err.message).toContain('states.start.rules.0.goto');
    expect(err.message).toContain('states.start.rules.0.keywords');
  });

  it('rejects invalid JSON and a number claimed twice', async () => {
    await expect(loadScenarioDir(await dirWith({ 'x.json': '{nope' }))).rejects.toThrow(
      /x\.json: not valid JSON/,
    );
    const one = JSON.stringify({ number: '+14155550199', outcome: 'busy' });
    await expect(loadScenarioDir(await dirWith({ 'a.json': one, 'b.json': one }))).rejects.toThrow(
      /b\.json: number: \+14155550199 is already defined in .*a\.json/,
    );
  });
});

describe('what a callee understands', () => {
  it('reads party sizes, preferring real numbers over soundalikes', () => {
    expect(findNumber('a table for four people')).toBe(4);
    expect(findNumber('for 6 please')).toBe(6);
    expect(findNumber('just for us')).toBe(4);
    expect(findNumber('hello there')).toBeNull();
  });

  it('reads times of day', () => {
    expect(findTime('at seven thirty p m')).toBe('7:30 pm');
    expect(findTime("eight o'clock in the evening")).toBe('8 pm');
    expect(findTime('7:15')).toBe('7:15');
    expect(findTime('no idea')).toBeNull();
  });
});
