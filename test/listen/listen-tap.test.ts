import { describe, expect, it } from 'vitest';
import { ListenHub, type ListenSink } from '../../src/listen/listen-hub.js';
import { withListenTap } from '../../src/listen/listen-tap.js';
import type { MediaTransport } from '../../src/telephony/ari/media-transport.js';
import type { AriChannel } from '../../src/telephony/ari/types.js';
import type { CallAudio } from '../../src/telephony/call-session.js';

function fakeTransport() {
  const closeListeners = new Set<() => void>();
  const audio: CallAudio = {
    sampleRate: 16000,
    onFrame: () => () => {},
    play: async () => ({ completed: true, playedMs: 0 }),
    flush: () => {},
    onFrameSent: () => () => {},
    onClose(l) {
      closeListeners.add(l);
      return () => closeListeners.delete(l);
    },
  };
  let closed = 0;
  const transport: MediaTransport = {
    kind: 'websocket',
    async prepare() {
      return {
        externalMedia: { transport: 'websocket', encapsulation: 'none', format: 'slin16' },
        attach: async () => audio,
        drain: async () => 'played' as const,
        close: async () => {
          closed++;
        },
      };
    },
  };
  return {
    transport,
    audio,
    mediaGone: () => {
      for (const l of closeListeners) l();
    },
    closed: () => closed,
  };
}

const channel = { id: 'media-1' } as AriChannel;
const sink = (closes: string[]): ListenSink => ({
  ready: () => true,
  write: () => {},
  close: (r) => closes.push(r),
});

describe('withListenTap', () => {
  it('makes a call listenable from answer (media attached) to its teardown', async () => {
    const hub = new ListenHub();
    const fake = fakeTransport();
    const media = withListenTap(fake.transport, hub);
    expect(media.kind).toBe('websocket');
    const prepared = await media.prepare({ callId: 'call-1' });
    expect(hub.isLive('call-1')).toBe(false);
    expect(await prepared.attach(channel)).toBe(fake.audio);
    expect(hub.isLive('call-1')).toBe(true);
    const closes: string[] = [];
    hub.listen('call-1', sink(closes));
    await prepared.close();
    expect(fake.closed()).toBe(1);
    expect(hub.isLive('call-1')).toBe(false);
    expect(closes).toEqual(['call ended']);
  });

  it('ends the listening when the media path goes away under the call', async () => {
    const hub = new ListenHub();
    const fake = fakeTransport();
    const prepared = await withListenTap(fake.transport, hub).prepare({ callId: 'call-2' });
    await prepared.attach(channel);
    const closes: string[] = [];
    hub.listen('call-2', sink(closes));
    fake.mediaGone();
    expect(hub.isLive('call-2')).toBe(false);
    expect(closes).toEqual(['call ended']);
    await prepared.close();
    expect(closes).toEqual(['call ended']);
  });

  it('a call that never answered was never listenable', async () => {
    const hub = new ListenHub();
    const fake = fakeTransport();
    const prepared = await withListenTap(fake.transport, hub).prepare({ callId: 'call-3' });
    await prepared.close();
    expect(hub.isLive('call-3')).toBe(false);
    expect(fake.closed()).toBe(1);
  });
});
