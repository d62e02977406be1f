// Lints the OpenAPI document exactly as GET /openapi.json serves it: builds the real app (over an
// in-memory PGlite database that is never queried), writes the document to a temp file and runs
// `redocly lint` on it. Exit status is redocly's. `--out <file>` keeps the document there as well.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccountService } from '../src/accounts/account-service.js';
import { SecretBox } from '../src/accounts/secret-box.js';
import { createApp } from '../src/api/app.js';
import { CallStore } from '../src/calls/call-store.js';
import { loadIrsfList } from '../src/calls/guardrails.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/client.js';
import { Readiness } from '../src/health.js';
import { silentLogger } from '../src/logger.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentline-openapi-'));
const outIndex = process.argv.indexOf('--out');
const file = outIndex > 0 ? path.resolve(process.argv[outIndex + 1]) : path.join(dir, 'openapi.json');

const database = await openDatabase({ pgliteDir: null });
try {
  const config = loadConfig({ DATA_DIR: dir });
  const app = createApp({
    db: database.db,
    config,
    logger: silentLogger(),
    accounts: new AccountService(database.db, SecretBox.fromKey(crypto.randomBytes(32).toString('hex'))),
    calls: new CallStore(database.db, config.publicBaseUrl),
    readiness: new Readiness(),
    guardrails: { allowedCountries: config.ALLOWED_COUNTRIES, irsf: loadIrsfList() },
  });
  // The document names the origin it was fetched from as its server.
  const res = await app.request('http://127.0.0.1:8080/openapi.json');
  if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
  fs.writeFileSync(file, JSON.stringify(await res.json(), null, 2));
} finally {
  await database.close();
}

const redocly = path.resolve(import.meta.dirname, '../node_modules/.bin/redocly');
const lint = spawnSync(redocly, ['lint', '--format', 'stylish', file], {
  stdio: 'inherit',
  // CI has no internet: no telemetry, no update check.
  env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
});
fs.rmSync(dir, { recursive: true, force: true });
process.exit(lint.status ?? 1);
