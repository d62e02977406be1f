// Live updates of the calls list: status cells change as calls move, and on the newest page a call
// that starts (and that the page's filters keep) is added at the top. The server renders every row
// (GET /calls/<id>/row), so this script never duplicates the row markup or the filter rules.
(() => {
  const table = document.getElementById('calls-table');
  const rows = document.getElementById('calls-rows');
  if (!table || !rows || typeof EventSource === 'undefined') return;
  const live = table.dataset.live === '1';
  /** Calls asked about (or being asked about) that the filters left out; asked again on their next status. */
  const pending = new Set();
  const refused = new Set();

  const rowOf = (callId) => rows.querySelector(`tr[data-call-id="${CSS.escape(callId)}"]`);

  function setStatus(row, status) {
    const cell = row.querySelector('[data-col="status"]');
    if (!cell) return;
    const badge = document.createElement('span');
    badge.className = `status status-${status}`;
    badge.textContent = status.replace(/_/g, ' ');
    cell.replaceChildren(badge);
  }

  function formatDuration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
  }

  /** Puts a server-rendered row where its creation time belongs (newest first). */
  function insertRow(html) {
    const tpl = document.createElement('template');
    tpl.innerHTML = html.trim();
    const row = tpl.content.querySelector('tr');
    if (!row || rowOf(row.dataset.callId)) return;
    const created = row.dataset.created || '';
    const before = [...rows.querySelectorAll('tr')].find((r) => (r.dataset.created || '') < created);
    // An older call than the whole page belongs on a later page when there is one.
    if (!before && table.dataset.pageFull === '1') return;
    row.classList.add('just-added');
    rows.insertBefore(row, before || null);
    const empty = document.getElementById('calls-empty');
    if (empty) empty.hidden = true;
  }

  async function askForRow(callId) {
    if (!live || pending.has(callId)) return;
    pending.add(callId);
    try {
      const res = await fetch(`/calls/${encodeURIComponent(callId)}/row${window.location.search}`, {
        headers: { accept: 'text/html' },
        credentials: 'same-origin',
      });
      if (res.status === 200) insertRow(await res.text());
      else refused.add(callId);
    } catch {
      // The next event of this call asks again.
    } finally {
      pending.delete(callId);
    }
  }

  function onEvent(type, data) {
    if (!data?.callId) return;
    const row = rowOf(data.callId);
    if (!row) {
      // A turn of a call this page left out says nothing new; a status change may make it match.
      if (type === 'turn' && refused.has(data.callId)) return;
      if (type !== 'partial') void askForRow(data.callId);
      return;
    }
    if (type === 'status') setStatus(row, data.to);
    if (type === 'ended') {
      setStatus(row, data.status);
      const reason = row.querySelector('[data-col="reason"]');
      if (reason) reason.textContent = data.endedReason || '';
      const duration = row.querySelector('[data-col="duration"]');
      if (duration && typeof data.durationSeconds === 'number') {
        duration.textContent = formatDuration(data.durationSeconds);
      }
    }
  }

  const source = new EventSource('/ui/events');
  for (const type of ['status', 'turn', 'ended', 'note']) {
    source.addEventListener(type, (e) => {
      try {
        onEvent(type, JSON.parse(e.data));
      } catch {
        // A malformed message is skipped; the next one carries the current state again.
      }
    });
  }
  window.addEventListener('pagehide', () => source.close());
})();
