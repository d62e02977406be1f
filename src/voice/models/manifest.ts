import fs from 'node:fs/promises';
import { z } from 'zod';

export const manifestEntrySchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only'),
  kind: z.enum(['stt', 'tts', 'vad', 'dialogue', 'lib']),
  engine: z.string(),
  url: z.string().url(),
  /** Path under MODELS_DIR: a file, or the folder a zip is unpacked into. */
  dest: z
    .string()
    .refine(
      (p) => !p.startsWith('/') && !p.split('/').includes('..'),
      'must be a relative path inside MODELS_DIR',
    ),
  unpack: z.enum(['zip']).optional(),
  /** With `unpack: zip`: take only this file from the archive (dest is then that file). */
  extract: z.string().optional(),
  approxSize: z.string().optional(),
  sizeBytes: z.number().int().positive().nullable().optional(),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits')
    .nullable()
    .optional(),
  license: z.string(),
});

export type ManifestEntry = z.infer<typeof manifestEntrySchema>;

const manifestSchema = z.object({ models: z.array(manifestEntrySchema).min(1) });

/** The manifest shipped in the repository's models/ folder. */
export const DEFAULT_MANIFEST = new URL('../../../models/manifest.json', import.meta.url);

export async function loadManifest(file: string | URL = DEFAULT_MANIFEST): Promise<ManifestEntry[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`models manifest ${String(file)}: ${(err as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`models manifest ${String(file)} is invalid: ${problems}`);
  }
  const names = new Set<string>();
  for (const m of parsed.data.models) {
    if (names.has(m.name)) throw new Error(`models manifest ${String(file)}: duplicate name ${m.name}`);
    names.add(m.name);
  }
  return parsed.data.models;
}
