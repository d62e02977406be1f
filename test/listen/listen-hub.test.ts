import { describe, expect, it } from 'vitest';
import { mixFrames } from '../../src/listen/frame-mixer.js';
import {
  CALL_ENDED_REASON,
  ListenHub,
  type ListenSink,
  type ListenSource,
} from '../../src/listen/listen-hub.js';
import { createPacer } from '../../src/telephony/media/pacer.js';
import { createManualClock } from '../media/manual-clock.js';

const SPF = 160; // 20 ms at 8 kHz

function fakeSource(sampleRate = 8000) {
  const inbound = new Set<(f: Int16Array) => void>();
  const sent = new Set<(info: { frame?: Int16Array }) => void>();
  const source: ListenSource = {
    sampleRate,
    onFrame(l) {
      inbound.add(l);
      return () => inbound.delete(l);
    },
    onFrameSent(l) {
      sent.add(l);
      return () => sent.delete(l);
    },
  };
  return {
    source,
    subscriptions: () => inbound.size + sent.size,
    callee: (f: Int16Array) => {
      for (const l of inbound) l(f);
    },
    agent: (f: Int16Array) => {
      for (const l of sent) l({ frame: f });
    },
  };
}

function recordingSink(opts: { ready?: () => boolean } = {}) {
  const frames: Int16Array[] = [];
  const closes: string[] = [];
  const sink: ListenSink = {
    ready: opts.ready ?? (() => true),
    write: (f) => frames.push(f),
    close: (r) => closes.push(r),
  };
  return { sink, frames, closes };
}

const filled = (value: number, n = SPF) => new Int16Array(n).fill(value);

describe('mixFrames', () => {
  it('adds both parties sample by sample', () => {
    const mixed = mixFrames(Int16Array.of(100, -200, 300), Int16Array.of(1, 2, -3), 3);
    expect([...mixed]).toEqual([101, -198, 297]);
  });

  it('clips to 16 bits instead of wrapping around', () => {
    const mixed = mixFrames(Int16Array.of(30000, -30000, 32767), Int16Array.of(10000, -10000, 1), 3);
    expect([...mixed]).toEqual([32767, -32768, 32767]);
  });

  it('passes one party through unchanged when the other is silent', () => {
    const callee = Int16Array.of(5, -6, 7, -8);
    expect([...mixFrames(callee, null, 4)]).toEqual([5, -6, 7, -8]);
    expect([...mixFrames(null, callee, 4)]).toEqual([5, -6, 7, -8]);
    expect([...mixFrames(null, null, 4)]).toEqual([0, 0, 0, 0]);
  });
});

describe('ListenHub', () => {
  it('costs a live call nothing while nobody listens: no subscription, no timer, no mixing', () => {
    const clock = createManualClock();
    const hub = new ListenHub({ clock });
    const call = fakeSource();
    const unregister = hub.register('call-1', call.source);
    expect(hub.isLive('call-1')).toBe(true);
    expect(call.subscriptions()).toBe(0);
    expect(clock.pending()).toBe(0);
    expect(hub.inspect('call-1')).toEqual({ listeners: 0, mixing: false });

    // Once the last listener leaves, the call is back to costing nothing.
    const { sink } = recordingSink();
    const listened = hub.listen('call-1', sink);
    if (!listened.ok) throw new Error('not live');
    expect(call.subscriptions()).toBe(2);
    expect(clock.pending()).toBe(1);
    listened.subscription.stop();
    expect(call.subscriptions()).toBe(0);
    expect(clock.pending()).toBe(0);
    expect(hub.inspect('call-1')).toEqual({ listeners: 0, mixing: false });
    unregister();
    expect(hub.isLive('call-1')).toBe(false);
  });

  it('sends one mix of callee and agent a frame period, silence where nobody speaks', () => {
    const clock = createManualClock();
    const hub = new ListenHub({ clock });
    const call = fakeSource();
    hub.register('call-1', call.source);
    const { sink, frames } = recordingSink();
    const listened = hub.listen('call-1', sink);
    expect(listened.ok && listened.subscription.sampleRate).toBe(8000);
    frames.length = 0; // the first tick ran at once, before anything was said

    // Both speak: a frame of each for two periods.
    for (let i = 0; i < 2; i++) {
      call.callee(filled(1000));
      call.agent(filled(-300));
      clock.advance(20);
    }
    // Then only the callee, then nobody.
    for (let i = 0; i < 2; i++) {
      call.callee(filled(20000));
      clock.advance(20);
    }
    clock.advance(60);
    const levels = frames.map((f) => {
      expect(f.length).toBe(SPF);
      return f[0];
    });
    // The first period primes each side (one frame of slack against timer jitter); the mix then runs
    // a frame behind the parties.
    expect(levels).toEqual([0, 700, 700, 20000, 20000, 0, 0]);
  });

  it('clips the mix of two loud parties', () => {
    const clock = createManualClock();
    const hub = new ListenHub({ clock });
    const call = fakeSource(16000);
    hub.register('call-1', call.source);
    const { sink, frames } = recordingSink();
    hub.listen('call-1', sink);
    for (let i = 0; i < 3; i++) {
      call.callee(filled(-30000, 320));
      call.agent(filled(-10000, 320));
      clock.advance(20);
    }
    expect(frames.at(-1)!.length).toBe(320);
    expect(frames.at(-1)!.every((s) => s === -32768)).toBe(true);
  });

  it('drops the oldest frames of a listener that falls behind, without holding up the others', () => {
    const clock = createManualClock();
    const hub = new ListenHub({ clock, maxQueuedFrames: 5 });
    const call = fakeSource();
    hub.register('call-1', call.source);
    let slowReady = false;
    const slow = recordingSink({ ready: () => slowReady });
    const fast = recordingSink();
    hub.listen('call-1', fast.sink);
    const slowListen = hub.listen('call-1', slow.sink);
    if (!slowListen.ok) throw new Error('not live');
    fast.frames.length = 0; // the first tick ran before the slow listener joined

    for (let i = 1; i <= 50; i++) {
      call.callee(filled(i));
      clock.advance(20);
    }
    expect(slow.frames).toEqual([]);
    expect(fast.frames.length).toBe(50);
    expect(slowListen.subscription.dropped).toBe(fast.frames.length - 5);

    // It catches up with the newest half second only, in order.
    slowReady = true;
    slowListen.subscription.pump();
    expect(slow.frames.map((f) => f[0])).toEqual(fast.frames.slice(-5).map((f) => f[0]));
  });

  it('closes the listeners with a reason when the call ends, and refuses calls that are not live', () => {
    const clock = createManualClock();
    const hub = new ListenHub({ clock });
    const call = fakeSource();
    const unregister = hub.register('call-1', call.source);
    const a = recordingSink();
    const b = recordingSink();
    hub.listen('call-1', a.sink);
    hub.listen('call-1', b.sink);
    unregister();
    expect(a.closes).toEqual([CALL_ENDED_REASON]);
    expect(b.closes).toEqual([CALL_ENDED_REASON]);
    expect(call.subscriptions()).toBe(0);
    expect(clock.pending()).toBe(0);
    expect(hub.listen('call-1', recordingSink().sink)).toEqual({ ok: false, reason: 'not_live' });
    expect(hub.listen('never', recordingSink().sink)).toEqual({ ok: false, reason: 'not_live' });
  });

  it('closes every listener when the hub closes, and takes no registration afterwards', () => {
    const clock = createManualClock();
    const hub = new ListenHub({ clock });
    hub.register('call-1', fakeSource().source);
    const a = recordingSink();
    hub.listen('call-1', a.sink);
    hub.close();
    expect(a.closes).toEqual(['server shutting down']);
    expect(clock.pending()).toBe(0);
    hub.register('call-2', fakeSource().source);
    expect(hub.isLive('call-2')).toBe(false);
  });

  it('hears what the pacer sends: the outbound frame reaches the tap', async () => {
    const clock = createManualClock();
    const sent: Int16Array[] = [];
    const pacer = createPacer({ sampleRate: 8000, clock, idle: 'none', send: () => {} });
    const source: ListenSource = {
      sampleRate: 8000,
      onFrame: () => () => {},
      onFrameSent: (l) => pacer.onFrameSent((_info, frame) => l({ frame })),
    };
    const hub = new ListenHub({ clock });
    hub.register('call-1', source);
    const { sink, frames } = recordingSink();
    hub.listen('call-1', sink);
    pacer.onFrameSent((_info, frame) => sent.push(frame.slice()));
    pacer.start();
    const played = pacer.play(filled(1234, SPF * 4));
    clock.advance(200);
    expect((await played).completed).toBe(true);
    expect(sent.length).toBe(4);
    expect(frames.filter((f) => f[0] === 1234).length).toBe(4);
    pacer.stop();
  });
});
