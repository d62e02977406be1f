import type { Logger } from '../../logger.js';
import { fetchModel } from './fetch.js';
import { listModels } from './list.js';
import { loadManifest } from './manifest.js';

/**
 * At start, installs the manifest's models that are missing. Without internet the first failed
 * connection ends the attempt at once (a few seconds at most), so the server still starts, on the
 * engines it has; what is missing is reported by /readyz.
 */
export async function fetchMissingModels(
  modelsDir: string,
  logger: Logger,
  opts: { connectTimeoutMs?: number } = {},
): Promise<{ installed: string[]; failed: string | null }> {
  const manifest = await loadManifest();
  const present = await listModels(manifest, modelsDir);
  const missing = manifest.filter((m) => !present.find((p) => p.name === m.name)?.installed);
  const installed: string[] = [];
  if (missing.length === 0) return { installed, failed: null };
  logger.info(
    { models: missing.map((m) => m.name) },
    'fetching missing models (MODELS_AUTO_FETCH=false skips this)',
  );
  for (const entry of missing) {
    try {
      const r = await fetchModel(entry, {
        modelsDir,
        connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
        warn: (message) => logger.warn({ model: entry.name }, message),
      });
      installed.push(r.name);
      logger.info({ model: r.name, path: r.path }, 'model installed');
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      logger.warn(
        { model: entry.name, err },
        'could not fetch models; going on with the engines that are installed (run `npx agentline models fetch` later)',
      );
      return { installed, failed: message };
    }
  }
  return { installed, failed: null };
}
