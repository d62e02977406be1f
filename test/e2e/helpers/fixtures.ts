import fs from 'node:fs';
import path from 'node:path';
import type { Scenario } from '../../../src/pbx-sim/index.js';

const DIR = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures');

/** A scenario of test/e2e/fixtures, given to the simulated PBX beside the bundled ones. */
export function fixtureScenario(name: string): Scenario {
  return JSON.parse(fs.readFileSync(path.join(DIR, `${name}.json`), 'utf8')) as Scenario;
}

export const SILENT_CALLEE = '+14155550190';
export const TALKS_OVER = '+14155550191';
export const BRIEF_CALLEE = '+14155550192';
export const PUSHY_CALLEE = '+14155550195';
