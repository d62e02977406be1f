// Trial of agentline against a real Asterisk: places calls through agentline's REST API, waits for each
// to end, prints what agentline reported against what each callee should give, the recordings' format,
// the events of every call that did not end as expected, and after the run whatever channels and
// bridges are still up on the Asterisk (a leak: every call has ended by then). README.md beside this
// file says how to set the trial up.
//
//   npx tsx scripts/asterisk-trial/run.ts --plan scripts/asterisk-trial/lab-plan.json [--only answered,busy]
//     [--concurrency 3] [--repeat answered=30]
//
// Environment: AGENTLINE_URL (default http://127.0.0.1:8080), AGENTLINE_KEY (an agent key, ak_...),
// ARI_URL / ARI_USERNAME / ARI_PASSWORD (the leak check), DATABASE_URL (optional: agentline's database,
// for the call_events of failed calls). Exit status 0 when every call ended as expected and nothing
// leaked, 1 otherwise.
import fs from 'node:fs';
import postgres from 'postgres';

interface PlanCase {
  /** A name for the table. */
  label: string;
  /** How many calls of this case (`--repeat label=N` overrides). */
  count?: number;
  /** Fields of POST /v1/agent/calls; `to` and `objective` at least. */
  body: Record<string, unknown>;
  /** What agentline should report. */
  expect: { status: string; endedReason: string };
  /** Also require a recording of this sample rate (Hz). */
  recordingRate?: number;
}

interface Outcome {
  label: string;
  callId: string;
  status: string;
  endedReason: string | null;
  expected: boolean;
  recording: string;
  turns: number;
  transcript: string;
  durationSeconds: number | null;
  placedAt: number;
  endedAt: number;
}

const TERMINAL = new Set(['completed', 'no_answer', 'voicemail', 'declined', 'failed']);

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const planFile = arg('plan') ?? new URL('lab-plan.json', import.meta.url).pathname;
const only = arg('only')?.split(',');
const concurrency = Number(arg('concurrency') ?? '3');
const repeats = new Map(
  (arg('repeat') ?? '')
    .split(',')
    .filter(Boolean)
    .map((r) => {
      const [label, n] = r.split('=');
      return [label, Number(n)] as const;
    }),
);
const api = (process.env.AGENTLINE_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const key = process.env.AGENTLINE_KEY;
if (!key) throw new Error('set AGENTLINE_KEY to an agent key (npx agentline keys create --account ID)');
const ari = process.env.ARI_URL?.replace(/\/$/, '');
const ariAuth = `Basic ${Buffer.from(`${process.env.ARI_USERNAME ?? 'agentline'}:${process.env.ARI_PASSWORD ?? ''}`).toString('base64')}`;

const plan = (JSON.parse(fs.readFileSync(planFile, 'utf8')) as PlanCase[]).filter(
  (c) => !only || only.includes(c.label),
);
const queue: PlanCase[] = plan.flatMap((c) =>
  Array.from({ length: repeats.get(c.label) ?? c.count ?? 1 }, () => c),
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function agentline(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${api}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers },
  });
}

/** The WAV's format from its header: "16000 Hz 1ch 16-bit 12.3 s". */
function wavFormat(buf: Buffer): { text: string; rate: number } {
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    return { text: `not a WAV (${buf.length} bytes)`, rate: 0 };
  }
  let off = 12;
  let rate = 0;
  let channels = 0;
  let bits = 0;
  let dataBytes = 0;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = buf.readUInt16LE(off + 10);
      rate = buf.readUInt32LE(off + 12);
      bits = buf.readUInt16LE(off + 22);
    } else if (id === 'data') {
      dataBytes = Math.min(size, buf.length - off - 8);
      break;
    }
    off += 8 + size + (size % 2);
  }
  const seconds = rate && channels && bits ? dataBytes / (rate * channels * (bits / 8)) : 0;
  return { text: `${rate} Hz ${channels}ch ${bits}-bit ${seconds.toFixed(1)} s`, rate };
}

async function placeAndWait(c: PlanCase): Promise<Outcome> {
  const placedAt = Date.now();
  let res: Response;
  for (;;) {
    res = await agentline('/v1/agent/calls', { method: 'POST', body: JSON.stringify(c.body) });
    // A rate cap answers 429: wait it out rather than count it as a failed call.
    if (res.status !== 429) break;
    await sleep(Number(res.headers.get('retry-after') ?? '5') * 1000);
  }
  if (res.status !== 201) throw new Error(`POST /v1/agent/calls: ${res.status} ${await res.text()}`);
  const { callId } = (await res.json()) as { callId: string };
  let call: Record<string, unknown>;
  for (;;) {
    const r = await agentline(`/v1/agent/calls/${callId}`);
    call = (await r.json()) as Record<string, unknown>;
    if (TERMINAL.has(call.status as string)) break;
    await sleep(500);
  }
  let recording = 'none';
  let rateOk = c.recordingRate === undefined;
  if (call.recordingUrl) {
    const r = await agentline(`/v1/agent/calls/${callId}/recording`);
    if (r.ok) {
      const f = wavFormat(Buffer.from(await r.arrayBuffer()));
      recording = f.text;
      rateOk = c.recordingRate === undefined || f.rate === c.recordingRate;
    } else recording = `GET recording: ${r.status}`;
  } else rateOk = c.recordingRate === undefined;
  const expected = call.status === c.expect.status && call.endedReason === c.expect.endedReason && rateOk;
  const out: Outcome = {
    label: c.label,
    callId,
    status: call.status as string,
    endedReason: (call.endedReason as string | null) ?? null,
    expected,
    recording,
    turns: Array.isArray(call.turns) ? call.turns.length : 0,
    transcript: (call.transcript as string | null) ?? '',
    durationSeconds: (call.durationSeconds as number | null) ?? null,
    placedAt,
    endedAt: Date.now(),
  };
  console.log(
    `${new Date().toISOString()} ${out.expected ? 'ok  ' : 'FAIL'} ${c.label.padEnd(14)} ${callId} ${out.status}/${out.endedReason} turns=${out.turns} rec=${recording}`,
  );
  return out;
}

async function ariList(path: string): Promise<Record<string, unknown>[]> {
  const r = await fetch(`${ari}/ari/${path}`, { headers: { authorization: ariAuth } });
  if (!r.ok) throw new Error(`ARI GET /${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as Record<string, unknown>[];
}

const results: Outcome[] = [];
const started = Date.now();
let next = 0;
await Promise.all(
  Array.from({ length: Math.max(1, concurrency) }, async () => {
    while (next < queue.length) {
      const c = queue[next++];
      try {
        results.push(await placeAndWait(c));
      } catch (err) {
        console.log(`FAIL ${c.label}: ${(err as Error).message}`);
        results.push({
          label: c.label,
          callId: '-',
          status: 'request_failed',
          endedReason: (err as Error).message,
          expected: false,
          recording: 'none',
          turns: 0,
          transcript: '',
          durationSeconds: null,
          placedAt: Date.now(),
          endedAt: Date.now(),
        });
      }
    }
  }),
);

console.log(`\n${results.length} calls in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
console.log('| case | expected | calls | as expected | outcomes (status/endedReason × n) | recordings |');
console.log('|---|---|---|---|---|---|');
for (const c of plan) {
  const rs = results.filter((r) => r.label === c.label);
  const outcomes = new Map<string, number>();
  for (const r of rs) {
    const k = `${r.status}/${r.endedReason}`;
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  }
  const recs = new Map<string, number>();
  for (const r of rs) {
    const k = r.recording.replace(/ [\d.]+ s$/, '');
    recs.set(k, (recs.get(k) ?? 0) + 1);
  }
  const lengths = rs
    .map((r) => Number(/([\d.]+) s$/.exec(r.recording)?.[1] ?? NaN))
    .filter((n) => !Number.isNaN(n));
  const span = lengths.length
    ? ` (${Math.min(...lengths).toFixed(1)}–${Math.max(...lengths).toFixed(1)} s)`
    : '';
  console.log(
    `| ${c.label} | ${c.expect.status}/${c.expect.endedReason} | ${rs.length} | ${rs.filter((r) => r.expected).length} | ${[...outcomes].map(([k, n]) => `${k} ×${n}`).join(', ')} | ${[...recs].map(([k, n]) => `${k} ×${n}`).join(', ')}${span} |`,
  );
}

const failures = results.filter((r) => !r.expected);
if (failures.length > 0) {
  console.log(`\nNot as expected (${failures.length}):`);
  const sql = process.env.DATABASE_URL
    ? postgres(process.env.DATABASE_URL, { max: 1, onnotice: () => {} })
    : null;
  try {
    for (const f of failures) {
      console.log(
        `- ${f.label} ${f.callId}: ${f.status}/${f.endedReason}, ${f.turns} turns, recording ${f.recording}`,
      );
      if (f.transcript) console.log(`  transcript: ${f.transcript.replace(/\n/g, ' | ')}`);
      if (sql && f.callId !== '-') {
        const events = await sql<
          { at: Date; from_status: string | null; to_status: string; reason: string | null }[]
        >`
          select at, from_status, to_status, reason from call_events where call_id = ${f.callId} order by id`;
        for (const e of events) {
          console.log(
            `  ${e.at.toISOString()} ${e.from_status ?? '-'} -> ${e.to_status}${e.reason ? ` (${e.reason})` : ''}`,
          );
        }
      }
    }
  } finally {
    await sql?.end();
  }
}

let leaked = 0;
if (ari) {
  // Teardown runs after the call's final status is written, and a transferred callee stays bridged to the
  // person who took over until one of them hangs up: wait up to a minute for Asterisk to empty.
  let channels: Record<string, unknown>[] = [];
  let bridges: Record<string, unknown>[] = [];
  for (let i = 0; i < 120; i++) {
    [channels, bridges] = await Promise.all([ariList('channels'), ariList('bridges')]);
    if (channels.length === 0 && bridges.length === 0) break;
    await sleep(500);
  }
  leaked = channels.length + bridges.length;
  console.log(`\nAsterisk after the run: ${channels.length} channels, ${bridges.length} bridges`);
  for (const ch of channels) console.log(`  channel ${ch.id} ${ch.name} ${ch.state}`);
  for (const b of bridges)
    console.log(`  bridge ${b.id} ${b.bridge_type} channels=${JSON.stringify(b.channels)}`);
} else console.log('\nARI_URL not set: no leak check');

process.exit(failures.length === 0 && leaked === 0 ? 0 : 1);
