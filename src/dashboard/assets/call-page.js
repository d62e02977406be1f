// A call's page, live: follows /ui/calls/<id>/events from where the server-rendered page stops
// (data-cursor), appends each turn, shows the callee's words while they speak, moves the status and
// the timeline, and when the call ends fills the summary and fetches the finished page's sections
// (recording, latency, webhooks). Also: clicking the waveform seeks the recording.
(() => {
  const root = document.getElementById('call-page');
  if (!root) return;
  const callId = root.dataset.callId;
  const TERMINAL = ['completed', 'no_answer', 'voicemail', 'declined', 'failed'];

  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const badge = (status) => el('span', `status status-${status}`, status.replace(/_/g, ' '));

  function formatOffset(ms) {
    const tenths = Math.max(0, Math.round(ms / 100));
    const m = Math.floor(tenths / 600);
    const s = ((tenths % 600) / 10).toFixed(1).padStart(4, '0');
    return `${m}:${s}`;
  }
  function formatDuration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
  }
  const valueText = (v) => {
    if (v === null || v === undefined) return '—';
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (typeof v === 'string' || typeof v === 'number') return String(v);
    return JSON.stringify(v);
  };

  // --- transcript -----------------------------------------------------------------------------
  const transcript = document.getElementById('transcript');
  const partial = document.getElementById('partial');
  const partialText = document.getElementById('partial-text');

  function hidePartial() {
    if (partial) partial.hidden = true;
  }

  function addTurn(t) {
    if (!transcript || transcript.querySelector(`li[data-seq="${Number(t.seq)}"]`)) return;
    const li = el('li', `turn turn-${t.speaker}${t.interrupted ? ' turn-interrupted' : ''}`);
    li.dataset.seq = String(t.seq);
    li.dataset.start = String(t.startMs);
    const meta = el('div', 'turn-meta');
    meta.append(
      el('span', 'speaker', t.speaker === 'agent' ? 'Agent' : 'Callee'),
      ' ',
      el('span', 'turn-time', `${formatOffset(t.startMs)}–${formatOffset(t.endMs)}`),
    );
    if (t.interrupted) {
      const mark = el('strong', 'badge badge-interrupted', 'Interrupted');
      mark.append(el('span', 'visually-hidden', ': cut off when the other party spoke'));
      meta.append(mark);
    }
    li.append(meta, el('p', 'turn-text', t.text));
    // In conversation order: a held callee turn may be stored after the agent turn that followed it.
    const later = [...transcript.children].find((n) => Number(n.dataset.start) > t.startMs);
    transcript.insertBefore(li, later || null);
    const empty = document.getElementById('transcript-empty');
    if (empty) empty.hidden = true;
    if (t.speaker === 'callee') hidePartial();
  }

  function showPartial(text) {
    if (!partial || !partialText) return;
    partialText.textContent = text;
    partial.hidden = !text;
  }

  // --- status and timeline --------------------------------------------------------------------
  const timeline = document.getElementById('timeline');

  function addTimeline(at, from, to, reason) {
    if (!timeline) return;
    const key = `${at}|${to}|${reason || ''}`;
    if ([...timeline.children].some((li) => li.dataset.key === key)) return;
    const note = from === to;
    const li = el('li', note ? 'note' : 'change');
    li.dataset.key = key;
    const time = el('time', '', String(at).slice(11, 19));
    time.setAttribute('datetime', at);
    li.append(time, ' ', note ? el('span', 'event-kind', 'note') : badge(to));
    if (reason) li.append(el('span', 'reason', ` ${reason}`));
    timeline.append(li);
  }

  function setStatus(status) {
    const cell = document.getElementById('call-status');
    if (cell) cell.replaceChildren(badge(status));
    if (TERMINAL.includes(status)) {
      document.getElementById('cancel-form')?.remove();
      hidePartial();
    }
  }

  function fillEnded(d) {
    setStatus(d.status);
    const reason = document.getElementById('call-ended-reason');
    if (reason) reason.textContent = d.endedReason || '—';
    const duration = document.getElementById('call-duration');
    if (duration && typeof d.durationSeconds === 'number')
      duration.textContent = formatDuration(d.durationSeconds);
    const summary = document.getElementById('summary');
    if (summary) {
      summary.textContent = d.summary || 'No summary.';
      summary.className = d.summary ? '' : 'muted';
    }
    const extracted = document.querySelector('#extracted tbody');
    if (extracted && d.extracted) {
      for (const [name, value] of Object.entries(d.extracted)) {
        const row = [...extracted.querySelectorAll('tr')].find((r) => r.dataset.field === name);
        const cell = row?.querySelector('td');
        if (cell) cell.textContent = valueText(value);
      }
    }
  }

  /**
   * Replaces server-rendered sections ([data-refresh]) with the page as the server renders it now: the
   * latency chart after an agent turn, the webhooks after a status change, and everything (recording
   * and waveform, facts) once the call has ended. Refreshes run one after another, so an older copy
   * of the page never lands after a newer one.
   */
  let refreshing = Promise.resolve();
  function refreshSections(ids) {
    refreshing = refreshing.then(async () => {
      try {
        const res = await fetch(window.location.pathname, {
          headers: { accept: 'text/html' },
          credentials: 'same-origin',
        });
        if (!res.ok) return;
        const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
        for (const fresh of doc.querySelectorAll('[data-refresh][id]')) {
          if (ids && !ids.includes(fresh.id)) continue;
          const current = document.getElementById(fresh.id);
          if (current) current.replaceWith(document.importNode(fresh, true));
        }
      } catch {
        // The live values are already on the page; a reload shows the rest.
      }
    });
  }

  // --- the live stream ------------------------------------------------------------------------
  if (root.dataset.live === '1' && typeof EventSource !== 'undefined') {
    const cursor = root.dataset.cursor || '';
    const url = `/ui/calls/${encodeURIComponent(callId)}/events${cursor ? `?lastEventId=${encodeURIComponent(cursor)}` : ''}`;
    const source = new EventSource(url);
    const on = (type, handle) =>
      source.addEventListener(type, (e) => {
        let data;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        if (data && data.callId === callId) handle(data);
      });
    on('turn', (t) => {
      addTurn(t);
      if (t.speaker === 'agent' && t.latency) refreshSections(['call-latency']);
    });
    on('partial', (d) => showPartial(d.text || ''));
    on('status', (d) => {
      setStatus(d.to);
      if (!TERMINAL.includes(d.to)) refreshSections(['call-webhooks']);
      const answered = document.getElementById('call-answered');
      if (d.to === 'in_progress' && answered)
        answered.textContent = `${d.at.slice(0, 10)} ${d.at.slice(11, 19)} UTC`;
      addTimeline(d.at, d.from, d.to, d.reason);
    });
    on('note', (d) => addTimeline(d.at, d.status, d.status, d.reason));
    on('ended', (d) => {
      // The stream ends after `ended`; closing first keeps EventSource from reconnecting.
      source.close();
      fillEnded(d);
      refreshSections(null);
    });
    window.addEventListener('pagehide', () => source.close());
  }

  // --- recording: the waveform seeks the player -----------------------------------------------
  const player = () => document.getElementById('recording');
  document.addEventListener('click', (e) => {
    const wave = e.target instanceof Element ? e.target.closest('#waveform') : null;
    const audio = player();
    if (!wave || !audio) return;
    const box = wave.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
    const duration = Number.isFinite(audio.duration) ? audio.duration : Number(wave.dataset.duration);
    if (!duration) return;
    audio.currentTime = fraction * duration;
    if (audio.paused) void audio.play().catch(() => {});
  });
  // timeupdate does not bubble: listen in the capture phase so a replaced player is still followed.
  document.addEventListener(
    'timeupdate',
    (e) => {
      const audio = e.target;
      const wave = document.getElementById('waveform');
      const played = document.getElementById('waveform-played');
      if (!(audio instanceof HTMLMediaElement) || audio.id !== 'recording' || !wave || !played) return;
      const duration = Number.isFinite(audio.duration) ? audio.duration : Number(wave.dataset.duration);
      const width = wave.viewBox.baseVal.width;
      played.setAttribute('width', String(duration ? (audio.currentTime / duration) * width : 0));
    },
    true,
  );
})();
