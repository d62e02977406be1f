import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVoskStt, resolveVoskLib } from '../../src/voice/stt/vosk.js';

// CI runs scripts/fetch-libvosk.sh, which puts the library in data/lib (the adapter's default spot
// next to data/models). No Vosk model can be downloaded here, so the tests stop at model loading.
const repoModelsDir = path.resolve('data/models');
const libPath = resolveVoskLib({ modelsDir: repoModelsDir });

describe('vosk stt', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-vosk-'));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('names the fix when libvosk.so is nowhere to be found', async () => {
    await expect(
      createVoskStt({ modelDir: dir, modelsDir: path.join(dir, 'models'), env: {} }),
    ).rejects.toThrow(/libvosk\.so not found; run `npx agentline models fetch --only libvosk`.*VOSK_LIB/);
  });

  it.skipIf(!libPath)('loads libvosk and fails clearly for a missing model folder', async () => {
    await expect(createVoskStt({ modelDir: path.join(dir, 'absent'), libPath: libPath! })).rejects.toThrow(
      /model folder .*absent does not exist; run `npx agentline models fetch/,
    );
  });

  it.skipIf(!libPath)('loads libvosk in its worker and rejects a model folder of garbage', async () => {
    const broken = path.join(dir, 'broken-model');
    await fs.mkdir(path.join(broken, 'am'), { recursive: true });
    await fs.mkdir(path.join(broken, 'conf'), { recursive: true });
    await fs.writeFile(path.join(broken, 'am', 'final.mdl'), 'not a kaldi model');
    await fs.writeFile(path.join(broken, 'conf', 'model.conf'), '--garbage=\u0000\u0001');
    await expect(createVoskStt({ modelDir: broken, libPath: libPath! })).rejects.toThrow(
      /vosk: the Vosk model in .*broken-model could not be loaded/,
    );
  });

  it.skipIf(!libPath)('reports a library file that is not libvosk', async () => {
    const fake = path.join(dir, 'libfake.so');
    await fs.writeFile(fake, 'ELF? no');
    await expect(createVoskStt({ modelDir: dir, libPath: fake })).rejects.toThrow(
      /vosk: cannot load .*libfake\.so/,
    );
  });
});
