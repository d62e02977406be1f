import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePiperFixture } from '../../scripts/make-piper-fixture.js';
import { silentLogger } from '../../src/logger.js';
import { type SelectedEngines, selectEngines } from '../../src/voice/engines.js';
import { writeSyntheticGguf } from '../../src/voice/models/synthetic-gguf.js';

describe('selectEngines', () => {
  let dir: string;
  const open: SelectedEngines[] = [];
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'agentline-engines-'));
  });
  afterAll(async () => {
    for (const e of open) await e.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('without a dialogue model, gives the local engines and says what to install', async () => {
    const e = await selectEngines({ modelsDir: path.join(dir, 'empty') }, silentLogger());
    open.push(e);
    expect(e.dialogue).toBeNull();
    expect(e.report).toMatchObject({
      stt: expect.stringMatching(/^pocketsphinx/),
      tts: 'flite (slt)',
      vad: 'silero v5',
    });
    expect(e.missing.join('\n')).toMatch(/npx agentline models fetch.*LLM_MODEL.*LLM_URL/);
    const speech = await e.tts.synthesize('Hello.');
    expect(speech.sampleRate).toBe(e.stt.sampleRate);
  });

  it('uses an installed GGUF with llama-cpp, and LLM_URL with the OpenAI-compatible adapter', async () => {
    const modelsDir = path.join(dir, 'models');
    await fs.mkdir(path.join(modelsDir, 'llm'), { recursive: true });
    await writeSyntheticGguf(path.join(modelsDir, 'llm', 'tiny.gguf'), { shape: 'tiny' });
    const local = await selectEngines(
      { modelsDir, TTS_ENGINE: 'flite', DEFAULT_VOICE: 'awb' },
      silentLogger(),
    );
    open.push(local);
    expect(local.dialogue?.name).toBe('llama-cpp');
    expect(local.report.dialogue).toMatch(/^llama-cpp \(tiny\.gguf, \d+ threads?, \d+ while replying\)$/);
    expect(local.report.tts).toBe('flite (awb)');
    expect(local.missing).toEqual([]);

    const remote = await selectEngines(
      { modelsDir, DIALOGUE_ENGINE: 'openai', LLM_URL: 'http://127.0.0.1:9/' },
      silentLogger(),
    );
    open.push(remote);
    expect(remote.dialogue?.name).toBe('openai-compatible');
  });

  it('prefers an installed Piper voice over flite', async () => {
    const modelsDir = path.join(dir, 'with-piper');
    await writePiperFixture(path.join(modelsDir, 'piper'));
    const e = await selectEngines({ modelsDir }, silentLogger());
    open.push(e);
    expect(e.report.tts).toBe('piper (fixture)');
    expect(e.tts.sampleRate).toBe(22_050);
  });

  it('rejects an override it cannot honour with a clear reason', async () => {
    await expect(
      selectEngines({ modelsDir: dir, DIALOGUE_ENGINE: 'openai' }, silentLogger()),
    ).rejects.toThrow(/needs LLM_URL/);
    await expect(selectEngines({ modelsDir: dir, STT_ENGINE: 'vosk' }, silentLogger())).rejects.toThrow(
      /STT_ENGINE=vosk: no Vosk model under .*models fetch/,
    );
    await expect(selectEngines({ modelsDir: dir, TTS_ENGINE: 'piper' }, silentLogger())).rejects.toThrow(
      /TTS_ENGINE=piper: no Piper voice/,
    );
  });
});
