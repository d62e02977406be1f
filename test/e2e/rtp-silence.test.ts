import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScriptedDialogue } from '../../src/voice/dialogue/scripted.js';
import { recordingCoverage, VOICED_RMS, wavEnvelope } from './helpers/audio-checks.js';
import { type E2eStack, loadVoiceEngines, startE2eStack, type VoiceEngines } from './helpers/e2e-stack.js';
import { fixtureScenario, SILENT_CALLEE } from './helpers/fixtures.js';

let engines: VoiceEngines;
let stack: E2eStack;

beforeAll(async () => {
  // Both sides know the other's lines (known-words-stt.ts): the audio crosses the whole media path, the
  // words do not hang on recognition luck.
  engines = await loadVoiceEngines({ knownWords: true });
  // ulaw RTP: 8 kHz on the wire, resampled to 16 kHz for the agent's VAD and STT.
  stack = await startE2eStack({ engines, transport: 'rtp', scenarios: [fixtureScenario('silent-callee')] });
}, 180_000);

afterAll(async () => {
  await stack?.close();
  await engines?.close();
});

describe('a callee who never speaks (ulaw RTP)', () => {
  it('the agent greets, reprompts once, says goodbye and ends the call on silence', async () => {
    stack.useAgent({
      dialogue: () =>
        createScriptedDialogue({ opening: 'Hello, this is the assistant calling for Sam Taylor.' }),
      options: { greetingWaitMs: 1000, silenceTimeoutMs: 3000 },
    });
    const callId = await stack.placeCall({ to: SILENT_CALLEE, objective: 'Ask about the delivery.' });
    const call = await stack.waitForEnd(callId);
    const heard = stack.sim.calleeLog(SILENT_CALLEE).filter((e) => e.kind === 'heard');
    const context = `transcript:\n${call.transcript}\ncallee heard:\n${heard.map((e) => e.text).join('\n')}`;

    expect(call.status, context).toBe('completed');
    expect(call.endedReason, context).toBe('silence_timeout');
    expect(
      call.turns.filter((t) => t.speaker === 'callee'),
      context,
    ).toEqual([]);
    const agentLines = call.turns.filter((t) => t.speaker === 'agent').map((t) => t.text);
    expect(agentLines, context).toEqual([
      'Hello, this is the assistant calling for Sam Taylor.',
      'Are you still there?',
      "I haven't heard anything, so I'll end the call here. Goodbye.",
    ]);

    // The agent's lines crossed RTP: the far end heard speech, and its bridge recording holds them.
    expect(heard.length, context).toBeGreaterThanOrEqual(1);
    const log = stack.media.log(callId)!;
    const res = await stack.request(new URL(call.recordingUrl!).pathname);
    expect(res.status).toBe(200);
    const cover = recordingCoverage(wavEnvelope(new Uint8Array(await res.arrayBuffer())).rms, log);
    expect(cover.agentOnlySlots, JSON.stringify(cover)).toBeGreaterThan(100);
    expect(cover.agentOnlyCovered, `agent speech in the recording: ${JSON.stringify(cover)}`).toBeGreaterThan(
      0.8,
    );
    expect(cover.explained, JSON.stringify(cover)).toBeGreaterThan(0.7);
    expect(log.sampleRate).toBe(8000);
    expect(log.sent.filter((f) => f.voiced).length).toBeGreaterThan(100);
    // The open line carried frames the whole time, all of them quiet.
    expect(log.received.length).toBeGreaterThan(300);
    expect(log.received.filter((f) => f.rms >= VOICED_RMS)).toEqual([]);
    expect(call.extracted).toEqual({});
  }, 120_000);
});
