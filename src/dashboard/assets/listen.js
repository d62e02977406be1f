// Live listen: the Listen button of a call's page opens the call's listen WebSocket and plays the
// mixed audio of both parties through Web Audio. The server sends one JSON message with the format
// ({ sampleRate, channels: 1 }), then binary frames of 16-bit little-endian PCM. Each frame is
// resampled to the AudioContext's rate and scheduled a little ahead (a small jitter buffer); a
// listener that falls far behind drops audio rather than drift. Read-only: nothing is ever sent.
(() => {
  if (window.agentlineListen) return; // several controls, one script
  window.agentlineListen = true;

  /** Audio scheduled this far ahead absorbs the network's jitter. */
  const LEAD_S = 0.12;
  /** Past this much audio waiting, frames are dropped until the queue is back to the lead. */
  const MAX_AHEAD_S = 0.6;
  const sessions = new Map();

  const parts = (root) => ({
    button: root.querySelector('.listen-toggle'),
    meter: root.querySelector('.listen-level'),
    state: root.querySelector('.listen-state'),
  });

  function show(root, state, text) {
    const { button, state: line } = parts(root);
    root.dataset.state = state;
    const active = state === 'connecting' || state === 'listening';
    button.textContent = active ? 'Stop' : 'Listen';
    button.setAttribute('aria-pressed', active ? 'true' : 'false');
    line.textContent = text;
  }

  function closeText(ev) {
    if (ev.reason === 'call ended') return 'The call ended.';
    if (ev.reason) return `Stopped: ${ev.reason}.`;
    // A refused upgrade reaches the page only as an abnormal close, without a reason.
    if (ev.code === 1006) return 'Could not listen: the connection was refused or lost.';
    return 'Stopped.';
  }

  /** Linear interpolation from `from` Hz to `to` Hz that carries its position across frames. */
  function createResampler(from, to) {
    const step = from / to;
    let pos = 0;
    let prev = 0;
    return (input) => {
      if (from === to) return input;
      const out = new Float32Array(Math.ceil((input.length - pos) / step) + 1);
      let n = 0;
      // Index 0 is the previous frame's last sample, 1..length this frame's.
      while (pos < input.length) {
        const i = Math.floor(pos);
        const frac = pos - i;
        const a = i === 0 ? prev : input[i - 1];
        const b = input[i];
        out[n++] = a + (b - a) * frac;
        pos += step;
      }
      pos -= input.length;
      prev = input[input.length - 1];
      return out.subarray(0, n);
    };
  }

  function play(session, data) {
    const view = new DataView(data);
    const samples = new Float32Array(data.byteLength >> 1);
    let energy = 0;
    for (let i = 0; i < samples.length; i++) {
      const s = view.getInt16(i * 2, true) / 32768;
      samples[i] = s;
      energy += s * s;
    }
    const level = samples.length ? Math.min(1, Math.sqrt(energy / samples.length) * 4) : 0;
    const ctx = session.ctx;
    const now = ctx.currentTime;
    if (session.nextTime < now + 0.02) session.nextTime = now + LEAD_S; // ran dry: prime again
    if (session.nextTime > now + MAX_AHEAD_S) return level; // too far behind: drop this frame
    const out = session.resample(samples);
    if (out.length === 0) return level;
    const buffer = ctx.createBuffer(1, out.length, ctx.sampleRate);
    buffer.copyToChannel(out, 0);
    const node = ctx.createBufferSource();
    node.buffer = buffer;
    node.connect(ctx.destination);
    node.start(session.nextTime);
    session.nextTime += buffer.duration;
    return level;
  }

  function stop(root, text) {
    const session = sessions.get(root);
    if (!session) return;
    sessions.delete(root);
    session.stopped = true;
    session.ws.close(1000);
    void session.ctx.close().catch(() => {});
    const { meter } = parts(root);
    meter.value = 0;
    root.dataset.level = '0';
    show(root, 'stopped', text);
  }

  function start(root) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) {
      show(root, 'closed', 'This browser cannot play live audio.');
      return;
    }
    // Made inside the click, so the browser lets it play.
    const ctx = new Ctx();
    void ctx.resume().catch(() => {});
    const url = new URL(root.dataset.listenUrl, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const session = { ws, ctx, resample: null, nextTime: 0, frames: 0, stopped: false };
    sessions.set(root, session);
    root.dataset.frames = '0';
    show(root, 'connecting', 'Connecting…');
    const { meter } = parts(root);

    ws.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') {
        let format;
        try {
          format = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (!format.sampleRate) return;
        session.resample = createResampler(format.sampleRate, ctx.sampleRate);
        show(root, 'listening', `Listening (${format.sampleRate / 1000} kHz).`);
        return;
      }
      if (!session.resample || session.stopped) return;
      const level = play(session, ev.data);
      session.frames++;
      root.dataset.frames = String(session.frames);
      root.dataset.level = level.toFixed(3);
      meter.value = level;
    });
    ws.addEventListener('close', (ev) => {
      if (session.stopped) return;
      sessions.delete(root);
      void ctx.close().catch(() => {});
      meter.value = 0;
      root.dataset.level = '0';
      show(root, ev.reason === 'call ended' ? 'ended' : 'closed', closeText(ev));
    });
  }

  function init(root) {
    if (root.dataset.listenReady) return;
    root.dataset.listenReady = '1';
    const { button, meter } = parts(root);
    button.hidden = false;
    meter.hidden = false;
    show(root, 'idle', 'Not listening.');
  }

  document.addEventListener('click', (e) => {
    const button = e.target instanceof Element ? e.target.closest('.listen-toggle') : null;
    const root = button?.closest('[data-listen-url]');
    if (!root) return;
    if (sessions.has(root)) stop(root, 'Not listening.');
    else start(root);
  });

  // The call page replaces sections as the call moves on: controls that appear later work too, and
  // one that is taken off the page stops playing.
  const scan = () => {
    for (const root of document.querySelectorAll('[data-listen-url]')) init(root);
    for (const root of sessions.keys()) if (!root.isConnected) stop(root, 'Not listening.');
  };
  new MutationObserver(scan).observe(document.documentElement, { childList: true, subtree: true });
  scan();
  window.addEventListener('pagehide', () => {
    for (const root of [...sessions.keys()]) stop(root, 'Not listening.');
  });
})();
