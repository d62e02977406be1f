import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScriptedDialogue } from '../../src/voice/dialogue/scripted.js';
import { verifyWebhook } from '../../src/webhooks/signature.js';
import { type Receiver, startReceiver } from '../webhooks/receiver.js';
import { recordingCoverage, wavEnvelope } from './helpers/audio-checks.js';
import { type E2eStack, loadVoiceEngines, startE2eStack, type VoiceEngines } from './helpers/e2e-stack.js';
import { fixtureScenario } from './helpers/fixtures.js';
import { bookingScript } from './helpers/scripts.js';

const RESTAURANT = '+14155550100';

let engines: VoiceEngines;
let stack: E2eStack;
let receiver: Receiver;

beforeAll(async () => {
  // Both sides know the other's lines (known-words-stt.ts): the audio crosses the whole media path, the
  // words do not hang on recognition luck.
  engines = await loadVoiceEngines({ knownWords: true });
  stack = await startE2eStack({
    engines,
    transport: 'websocket',
    scenarios: [fixtureScenario('booking-host')],
  });
  receiver = await startReceiver();
}, 180_000);

afterAll(async () => {
  await stack?.close();
  await receiver?.close();
  await engines?.close();
});

describe('a booking call through the whole pipeline (websocket slin16)', () => {
  it('books the table, extracts the values, signs the webhooks and records both parties', async () => {
    stack.useAgent({ dialogue: () => createScriptedDialogue(bookingScript) });
    const callId = await stack.placeCall({
      to: RESTAURANT,
      objective: 'Book a table for four people at seven thirty in the evening under the name Smith.',
      fields: [
        { name: 'party_size', type: 'number', description: 'people on the booking' },
        { name: 'time', type: 'string', description: 'the booked time' },
        { name: 'name', type: 'string', description: 'the name of the booking' },
      ],
      webhookUrl: receiver.url,
      metadata: { test: 'booking' },
    });
    const call = await stack.waitForEnd(callId);

    const host = stack.sim.calleeLog(RESTAURANT);
    if (process.env.E2E_DEBUG) console.log(JSON.stringify(call, null, 2), host);
    const context = `transcript:\n${call.transcript}\nhost log:\n${host.map((e) => `${e.kind}: ${e.text}`).join('\n')}`;
    expect(call.status, context).toBe('completed');
    expect(['objective_met', 'callee_hung_up'], context).toContain(call.endedReason);

    // The host went through its script: it captured the party size, the time and the name, and confirmed.
    const said = host.filter((e) => e.kind === 'said').map((e) => e.text);
    expect(said, context).toContain('Thank you. Your table for 4 at 7:30 pm is booked under smith, goodbye.');

    // Both parties are in the transcript: the host's lines as it said them (a pause between its sentences
    // may end the agent's listening turn there, splitting a line in two), the agent's answers.
    expect(call.transcript, context).toMatch(/^Agent: .*book a table/im);
    const calleeTurns = call.turns.filter((t) => t.speaker === 'callee').map((t) => t.text);
    expect(calleeTurns.length, context).toBeGreaterThanOrEqual(4);
    expect(
      calleeTurns.some((t) => /your table for 4 at 7 30 pm is booked under smith goodbye$/.test(t)),
      context,
    ).toBe(true);
    const agentTurns = call.turns.filter((t) => t.speaker === 'agent').map((t) => t.text);
    expect(agentTurns, context).toEqual(
      expect.arrayContaining(['Four people, please.', 'At seven thirty in the evening.', 'Under Smith.']),
    );

    // Every value comes from the host's confirmation, as the agent heard it.
    expect(call.extracted, context).toEqual({ party_size: 4, time: '7:30 pm', name: 'Smith' });

    // Each agent turn that answered the callee carries its latency stamps, in pipeline order.
    const answered = call.turns.filter((t) => t.speaker === 'agent' && t.latency?.calleeSpeechEndMs != null);
    expect(answered.length, context).toBeGreaterThanOrEqual(3);
    for (const t of answered) {
      const l = t.latency!;
      for (const k of ['sttFinalMs', 'firstTokenMs', 'firstTtsAudioMs', 'firstVoicedFrameMs']) {
        expect(l[k], `${k} of "${t.text}"`).toEqual(expect.any(Number));
      }
      expect(l.sttFinalMs!).toBeGreaterThanOrEqual(l.calleeSpeechEndMs!);
      expect(l.firstVoicedFrameMs!).toBeGreaterThanOrEqual(l.sttFinalMs!);
      expect(l.firstTtsAudioMs!).toBeGreaterThanOrEqual(l.firstTokenMs!);
      expect(l.firstVoicedFrameMs!).toBeGreaterThanOrEqual(l.firstTtsAudioMs!);
    }

    // Webhooks: call.in_progress then call.completed, each signed with the account's secret.
    const ours = () => receiver.received.filter((r) => JSON.parse(r.body).callId === callId);
    await expect
      .poll(() => ours().map((r) => JSON.parse(r.body).event), { timeout: 15_000 })
      .toEqual(['call.in_progress', 'call.completed']);
    for (const r of ours()) {
      expect(verifyWebhook(r.body, r.headers['x-bys-signature'] as string, stack.webhookSecret)).toBe(true);
      expect(verifyWebhook(r.body, r.headers['x-bys-signature'] as string, 'whsec_wrong')).toBe(false);
    }
    const done = JSON.parse(ours()[1].body);
    expect(done).toMatchObject({
      callId,
      status: 'completed',
      extracted: { party_size: 4, time: '7:30 pm', name: 'Smith' },
      metadata: { test: 'booking' },
    });
    expect(done.transcript).toBe(call.transcript);

    // The recording downloads with the account's key and holds both parties' speech.
    expect(call.recordingUrl).toBe(`${stack.url}/v1/agent/calls/${callId}/recording`);
    const res = await stack.request(new URL(call.recordingUrl!).pathname);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/audio\/(wav|x-wav|wave)/);
    const wav = new Uint8Array(await res.arrayBuffer());
    const log = stack.media.log(callId)!;
    const cover = recordingCoverage(wavEnvelope(wav).rms, log);
    const coverNote = JSON.stringify(cover);
    expect(cover.agentOnlySlots, coverNote).toBeGreaterThan(50);
    expect(cover.calleeOnlySlots, coverNote).toBeGreaterThan(50);
    // Socket times jitter against the PBX's mixing clock on a loaded machine, so the fit is loose; a
    // recording that lacked one party would cover close to none of that party's speech.
    expect(cover.agentOnlyCovered, `agent speech in the recording: ${coverNote}`).toBeGreaterThan(0.5);
    expect(cover.calleeOnlyCovered, `callee speech in the recording: ${coverNote}`).toBeGreaterThan(0.5);
    expect(cover.explained, coverNote).toBeGreaterThan(0.7);

    // Another account's key cannot download it.
    const anon = await fetch(call.recordingUrl!);
    expect(anon.status).toBe(401);
  }, 150_000);
});
