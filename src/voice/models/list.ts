import fs from 'node:fs/promises';
import path from 'node:path';
import type { ManifestEntry } from './manifest.js';

export interface InstalledModel {
  name: string;
  kind: ManifestEntry['kind'];
  engine: string;
  installed: boolean;
  path: string;
  /** Bytes on disk (a folder's files summed), when installed. */
  bytes?: number;
}

async function du(p: string): Promise<number> {
  const st = await fs.stat(p);
  if (!st.isDirectory()) return st.size;
  let sum = 0;
  for (const e of await fs.readdir(p)) sum += await du(path.join(p, e));
  return sum;
}

/** What of the manifest is installed under MODELS_DIR. */
export async function listModels(
  manifest: readonly ManifestEntry[],
  modelsDir: string,
): Promise<InstalledModel[]> {
  return Promise.all(
    manifest.map(async (m) => {
      const p = path.join(modelsDir, m.dest);
      const bytes = await du(p).catch(() => undefined);
      return {
        name: m.name,
        kind: m.kind,
        engine: m.engine,
        installed: bytes !== undefined,
        path: p,
        ...(bytes !== undefined ? { bytes } : {}),
      };
    }),
  );
}
