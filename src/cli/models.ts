import fs from 'node:fs/promises';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { loadConfig } from '../config.js';
import { type FetchProgress, fetchModel } from '../voice/models/fetch.js';
import { findInstalledGguf, identifyGguf } from '../voice/models/installed-gguf.js';
import { type InstalledModel, listModels } from '../voice/models/list.js';
import { DEFAULT_MANIFEST, loadManifest, type ManifestEntry } from '../voice/models/manifest.js';
import { isSyntheticShape, SYNTHETIC_SHAPES, writeSyntheticGguf } from '../voice/models/synthetic-gguf.js';
import { parseFlags, required } from './args.js';
import { emit, showUsage, table, unknownAction } from './output.js';
import { type CliCommand, CliError, type CliIo } from './types.js';

const shapes = Object.keys(SYNTHETIC_SHAPES).join('|');
const usage = `Usage:
  agentline models fetch [--only NAME] [--models-dir DIR] [--manifest FILE] [--json]
      download, verify (SHA-256) and install the models of the manifest; a cut download resumes
  agentline models list [--models-dir DIR] [--manifest FILE] [--json]
      show which models of the manifest are installed, and any other GGUF under the models
      directory (random-weight synthetic ones marked; without LLM_MODEL the largest is loaded)
  agentline models synthetic --shape ${shapes} --out FILE [--json]
      write a RANDOM-WEIGHT GGUF in a real model's shape: a fixture and speed stand-in, not a model

MODELS_DIR (default DATA_DIR/models) is where models live; --models-dir overrides it.`;

function modelsDirOf(io: CliIo, flag: string | undefined): string {
  if (flag) return path.resolve(flag);
  return loadConfig(io.env).modelsDir;
}

/** A cli-progress bar on a terminal; one line per file otherwise (logs, CI). */
function progressFor(io: CliIo, quiet: boolean): FetchProgress | undefined {
  if (quiet) return undefined;
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: '{name} [{bar}] {percentage}% {value}/{total} bytes', hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    return {
      start: (name, total, already) => bar.start(total ?? 0, already, { name }),
      advance: (n) => bar.increment(n),
      stop: () => bar.stop(),
    };
  }
  return {
    start: (name, total, already) =>
      io.err(
        `fetching ${name}${total ? ` (${total} bytes)` : ''}${already ? `, resuming at ${already}` : ''}\n`,
      ),
    advance: () => undefined,
    stop: () => undefined,
  };
}

type ListedModel = InstalledModel & { modelName?: string | null; synthetic?: boolean; note?: string };

/**
 * The GGUFs the server would find under MODELS_DIR that the manifest does not name (written by
 * `models synthetic` or copied in by hand), so what the server may load is never hidden. A
 * random-weight one is marked: it runs at a real model's speed and says nothing sensible.
 */
async function otherGgufs(manifest: readonly ManifestEntry[], modelsDir: string): Promise<ListedModel[]> {
  const listed = new Set(manifest.map((m) => path.join(modelsDir, m.dest)));
  return Promise.all(
    (await findInstalledGguf(modelsDir))
      .filter((file) => !listed.has(file))
      .map(async (file) => {
        const id = await identifyGguf(file);
        const notes = [
          id.synthetic ? `random weights (${id.modelName}): speaks gibberish` : id.modelName,
          id.problem,
        ];
        return {
          name: path.relative(modelsDir, file),
          kind: 'dialogue',
          engine: 'llama-cpp',
          installed: true,
          path: file,
          bytes: (await fs.stat(file)).size,
          modelName: id.modelName,
          synthetic: id.synthetic,
          note: notes.filter(Boolean).join('; '),
        };
      }),
  );
}

export const modelsCommand: CliCommand = {
  name: 'models',
  summary: 'fetch, list and synthesise the speech and dialogue models',
  usage,
  async run(argv, io) {
    const [action, ...rest] = argv;
    switch (action) {
      case 'fetch': {
        const flags = parseFlags(
          rest,
          { only: { type: 'string' }, 'models-dir': { type: 'string' }, manifest: { type: 'string' } },
          'models fetch',
        );
        if (flags.help) return showUsage(io, usage);
        const manifest = await loadManifest(flags.manifest ? path.resolve(flags.manifest) : DEFAULT_MANIFEST);
        const modelsDir = modelsDirOf(io, flags['models-dir']);
        const chosen = flags.only ? manifest.filter((m) => m.name === flags.only) : manifest;
        if (chosen.length === 0) {
          throw new CliError(
            `models fetch: no model named ${flags.only} (one of: ${manifest.map((m) => m.name).join(', ')})`,
            2,
          );
        }
        const results = [];
        for (const entry of chosen) {
          const r = await fetchModel(entry, {
            modelsDir,
            progress: progressFor(io, Boolean(flags.json)),
            warn: (m) => io.err(`warning: ${m}\n`),
          }).catch((err: Error) => {
            throw new CliError(`models fetch: ${err.message}`);
          });
          results.push(r);
        }
        emit(
          io,
          flags.json,
          { modelsDir, results },
          results
            .map(
              (r) =>
                `${r.name}: ${r.status === 'installed' ? 'installed' : 'already installed'} at ${r.path}`,
            )
            .join('\n'),
        );
        return 0;
      }
      case 'list': {
        const flags = parseFlags(
          rest,
          { 'models-dir': { type: 'string' }, manifest: { type: 'string' } },
          'models list',
        );
        if (flags.help) return showUsage(io, usage);
        const manifest = await loadManifest(flags.manifest ? path.resolve(flags.manifest) : DEFAULT_MANIFEST);
        const modelsDir = modelsDirOf(io, flags['models-dir']);
        const models: ListedModel[] = [
          ...(await listModels(manifest, modelsDir)),
          ...(await otherGgufs(manifest, modelsDir)),
        ];
        emit(
          io,
          flags.json,
          { modelsDir, models },
          `${table(
            ['NAME', 'KIND', 'ENGINE', 'INSTALLED', 'BYTES', 'NOTE'],
            models.map((m) => [m.name, m.kind, m.engine, m.installed, m.bytes, m.note]),
          )}\n\nModels directory: ${modelsDir}`,
        );
        return 0;
      }
      case 'synthetic': {
        const flags = parseFlags(
          rest,
          { shape: { type: 'string' }, out: { type: 'string' } },
          'models synthetic',
        );
        if (flags.help) return showUsage(io, usage);
        const shape = required(flags.shape, 'shape', 'models synthetic');
        const out = path.resolve(required(flags.out, 'out', 'models synthetic'));
        if (!isSyntheticShape(shape)) {
          throw new CliError(
            `models synthetic: unknown shape ${JSON.stringify(shape)} (one of: ${shapes})`,
            2,
          );
        }
        // On a fresh checkout data/models does not exist yet, and that is where the server looks.
        await fs.mkdir(path.dirname(out), { recursive: true });
        const bytes = await writeSyntheticGguf(out, { shape }).catch((err: Error) => {
          throw new CliError(`models synthetic: ${err.message}`);
        });
        emit(
          io,
          flags.json,
          { path: out, shape, bytes },
          `${out}: random-weight ${shape} GGUF, ${bytes} bytes. It speaks gibberish: use it for tests and speed measurements only.`,
        );
        return 0;
      }
      default:
        throw unknownAction('models', action, ['fetch', 'list', 'synthetic']);
    }
  },
};
