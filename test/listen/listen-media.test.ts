import dgram from 'node:dgram';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ListenHub } from '../../src/listen/listen-hub.js';
import { createRtpCallAudio } from '../../src/telephony/media/rtp-media.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function udp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

describe('live listen on a real media path (RTP over loopback)', () => {
  it("hears both what the agent sends and what the far end says, at the path's rate", async () => {
    const agentSocket = await udp();
    const calleeSocket = await udp();
    const agent = await createRtpCallAudio({
      socket: agentSocket,
      remote: { address: '127.0.0.1', port: calleeSocket.address().port },
      format: 'slin16',
    });
    cleanup.push(() => agent.close());
    const callee = await createRtpCallAudio({ socket: calleeSocket, remote: null, format: 'slin16' });
    cleanup.push(() => callee.close());
    await vi.waitFor(() => expect(callee.remote).not.toBeNull(), { timeout: 10_000 });

    const hub = new ListenHub();
    cleanup.push(() => hub.close());
    hub.register('call-1', agent);
    const levels = new Set<number>();
    const listened = hub.listen('call-1', {
      ready: () => true,
      write: (frame) => {
        // A frame of one level throughout is one party alone, or both summed.
        if (frame.every((s) => s === frame[0])) levels.add(frame[0]);
      },
      close: () => {},
    });
    expect(listened.ok && listened.subscription.sampleRate).toBe(16000);

    // Each side plays two seconds of a constant level; the mix holds each alone or their sum.
    void agent.play(new Int16Array(32000).fill(1000));
    void callee.play(new Int16Array(32000).fill(-300));
    await vi.waitFor(
      () => {
        expect([...levels].some((l) => l === 1000 || l === 700)).toBe(true);
        expect([...levels].some((l) => l === -300 || l === 700)).toBe(true);
      },
      { timeout: 15_000, interval: 20 },
    );
  });
});
