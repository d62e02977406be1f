import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, TEST_DESTINATION, type TestApi } from '../helpers/api-fixtures.js';

// Property-based fuzzing of every route over real HTTP and PostgreSQL: whatever a client sends,
// the answer is never a 5xx and every error is { error: { code, message } }. The seed is fixed so CI
// runs the same requests every time; FUZZ_SEED=<n> (and FUZZ_RUNS=<n>) explore further. On a failure
// fast-check prints the seed and the shrunk request that reproduces it.

const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const RUNS = Number(process.env.FUZZ_RUNS ?? 450);

let api: TestApi;
let callId: string;
beforeAll(async () => {
  api = await startTestApi({
    // Caps would turn most valid bodies into 429s before they reach the insert the fuzz is after.
    env: { CAP_CALLS_PER_MINUTE: '100000', CAP_CONCURRENT_CALLS: '100000', CAP_CALLS_PER_DAY: '100000' },
  });
  const res = await api.request('/v1/agent/calls', {
    method: 'POST',
    body: JSON.stringify({ to: TEST_DESTINATION, objective: 'Fuzz target.' }),
  });
  callId = ((await res.json()) as { callId: string }).callId;
});
afterAll(async () => {
  await api?.close();
});

// ---- strings ---------------------------------------------------------------------------------

/** What broke the API before, or breaks parsers elsewhere. */
const EDGE_CHARS = [
  '\u0000',
  '\ud800',
  '\udbff',
  '\udc00',
  '\udfff',
  '\u202e', // right-to-left override
  '\u200f',
  '\u0301', // combining acute
  '\ufeff',
  '\uffff',
  '\u2028',
  '😀',
  '👍🏽',
  '🏳️‍🌈',
  'ש',
  'م',
  '\\',
  '"',
  '\n',
];
const char = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.constantFrom(...EDGE_CHARS) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
);
const SPECIAL_STRINGS = [
  '',
  ' ',
  '\t\n',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'null',
  'NaN',
  '1e309',
  '-0',
  '60',
  '[]',
  '{}',
  'x'.repeat(2_001),
  'x'.repeat(8_001),
  '%00',
  '%',
  '%zz',
  '../../etc/passwd',
  'https://127.0.0.1/hook',
  'http://[::1]/',
  'en-US',
  'e\u0301'.repeat(300),
];
const E164ISH = [
  TEST_DESTINATION,
  '+14155550100',
  '+0123456789',
  '+1',
  '+1234567890123456',
  '14155552671',
  '+1 415 555 2671',
  '+1-415-555-2671',
  '+١٤١٥٥٥٥٢٦٧١', // Arabic-Indic digits
  '+14155552671\u0000',
  '+882161234567',
  '+19005550123',
  '＋14155552671',
];
const text = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: char, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 1, arbitrary: fc.constantFrom(...E164ISH) },
  { weight: 1, arbitrary: fc.string({ unit: char, minLength: 500, maxLength: 3_000 }) },
);
const key = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'a', 'callerID', 'to', '', '\u0000', '\ud800'),
  fc.string({ unit: char, maxLength: 12 }),
);

// ---- JSON values -----------------------------------------------------------------------------

const scalar = fc.oneof(
  text,
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 29, 30, 3_600, 3_601, 1e21, Number.MAX_SAFE_INTEGER + 2, 0.5),
  fc.boolean(),
  fc.constant(null),
);
const { value: jsonValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  ),
}));

/** Deep nesting written as text: a 64 KB body can nest ~30,000 levels, which overflowed the stack. */
const deepBody = fc
  .record({
    levels: fc.constantFrom(31, 32, 33, 40, 1_000, 30_000),
    where: fc.constantFrom('metadata', 'metadata', 'fields', 'voicemail', 'context'),
    open: fc.constantFrom('[', '{"a":'),
  })
  .map(({ levels, where, open }) => {
    const close = open === '[' ? ']' : '}';
    const inner = `${open.repeat(levels)}${open === '[' ? '' : '1'}${close.repeat(levels)}`;
    const value = where === 'metadata' ? `{"m":${inner}}` : inner;
    return `{"to":"${TEST_DESTINATION}","objective":"Deep.","${where}":${value}}`;
  });

const validBody = { to: TEST_DESTINATION, objective: 'Ask whether the shop is open on Sunday.' };
const FIELDS = [
  'to',
  'objective',
  'context',
  'fields',
  'webhookUrl',
  'callerId',
  'language',
  'voice',
  'maxDurationSeconds',
  'voicemail',
  'metadata',
] as const;
const fieldValue = fc.oneof(
  jsonValue,
  fc.array(
    fc.record(
      {
        name: fc.oneof(text, fc.constantFrom('x', 'open_sunday', '1bad')),
        type: jsonValue,
        description: text,
      },
      { requiredKeys: [] },
    ),
    { maxLength: 22 },
  ),
  fc.record(
    { action: fc.constantFrom('hangup', 'leave_message', 'other'), message: text },
    { requiredKeys: [] },
  ),
  fc.dictionary(key, jsonValue, { maxKeys: 6 }),
);
/** A valid body with some fields replaced, removed or added: gets past the first check more often. */
const mutatedBody = fc
  .record({
    set: fc.array(fc.tuple(fc.constantFrom(...FIELDS), fieldValue), { maxLength: 4 }),
    drop: fc.subarray([...FIELDS]),
    extra: fc.dictionary(key, jsonValue, { maxKeys: 2 }),
  })
  .map(({ set, drop, extra }) => {
    const body: Record<string, unknown> = { ...validBody };
    for (const f of drop) delete body[f];
    for (const [f, v] of set) body[f] = v;
    // defineProperty keeps '__proto__' an own key, as JSON.parse on the server will.
    for (const [k, v] of Object.entries(extra))
      Object.defineProperty(body, k, { value: v, enumerable: true });
    return JSON.stringify(body);
  });
/** Printable text in any script (RTL, emoji, combining marks) that the API must store unchanged. */
const cleanText = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 });
const someText = fc.oneof({ weight: 5, arbitrary: cleanText }, { weight: 1, arbitrary: text });

/** Right types and shapes, adversarial text: what gets past the schema to the database. */
const wellTypedBody = fc
  .record(
    {
      to: fc.oneof({ weight: 4, arbitrary: fc.constant(TEST_DESTINATION) }, fc.constantFrom(...E164ISH)),
      callerId: fc.oneof({ weight: 4, arbitrary: fc.constant('+14155550100') }, fc.constantFrom(...E164ISH)),
      objective: someText,
      context: someText,
      fields: fc.array(fc.record({ name: fc.constantFrom('a', 'b_1', 'hours'), description: someText }), {
        maxLength: 2,
      }),
      webhookUrl: someText.map((t) => `https://hooks.example.com/${encodeURI(t.replace(/\p{Cs}/gu, ''))}`),
      language: fc.constantFrom('en-US', 'de', 'en-gb', 'fr-CA', 'en_US', 'x\u0000'),
      voice: someText,
      maxDurationSeconds: fc.constantFrom(30, 600, 3_600),
      voicemail: someText.map((message) => ({ action: 'leave_message', message })),
      metadata: fc.dictionary(
        fc.oneof({ weight: 3, arbitrary: cleanText }, key),
        fc.oneof({ weight: 3, arbitrary: cleanText }, jsonValue),
        { maxKeys: 5 },
      ),
    },
    { requiredKeys: [] },
  )
  .map((fields) => {
    // Names repeated in `fields` are a 400 of their own; keep one of each.
    const unique = fields.fields?.filter((f, i, all) => all.findIndex((g) => g.name === f.name) === i);
    return JSON.stringify({ ...validBody, ...fields, ...(unique ? { fields: unique } : {}) });
  });
const brokenJson = fc.constantFrom(
  '',
  '{',
  '{"to":',
  'null',
  '[]',
  '"text"',
  '42',
  '\u0000',
  '\ufeff{}',
  `{"to":"${TEST_DESTINATION}","objective":"dup","objective":"twice"}`,
  '{"a":1,}',
  "{'to':'x'}",
  'NaN',
  `{"to":"${TEST_DESTINATION}","objective":"\\ud800"}`,
  `{"to":"${TEST_DESTINATION}","objective":"\\u0000"}`,
);
const hugeBody = fc
  .constantFrom(64 * 1024 - 200, 64 * 1024 + 1, 200 * 1024)
  .map((n) => JSON.stringify({ ...validBody, context: 'x'.repeat(n) }));
const bodyText = fc.oneof(
  { weight: 8, arbitrary: wellTypedBody },
  { weight: 3, arbitrary: mutatedBody },
  { weight: 1, arbitrary: jsonValue.map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 2, arbitrary: deepBody },
  { weight: 1, arbitrary: brokenJson },
  { weight: 1, arbitrary: hugeBody },
);
/** Some bodies go out as raw bytes, so invalid UTF-8 reaches the server too. */
const body = fc.oneof(
  { weight: 12, arbitrary: bodyText.map((s): string | Uint8Array => s) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(bodyText, fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.nat())
      .map(([s, bytes, at]): string | Uint8Array => {
        const b = Buffer.from(s);
        const i = b.length === 0 ? 0 : at % b.length;
        return new Uint8Array(Buffer.concat([b.subarray(0, i), Buffer.from(bytes), b.subarray(i)]));
      }),
  },
);

// ---- headers ---------------------------------------------------------------------------------

/** Header values fetch can send: latin-1 without NUL, CR or LF. */
const headerText = fc.string({
  unit: fc
    .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
    .map((c) => String.fromCharCode(c)),
  maxLength: 300,
});
const contentType = fc.oneof(
  { weight: 24, arbitrary: fc.constant('application/json') },
  fc.constantFrom(
    'application/json; charset=utf-8',
    'application/problem+json',
    'APPLICATION/JSON',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/jsonx',
    '',
    undefined,
  ),
);
type Auth = { kind: 'valid' } | { kind: 'none' } | { kind: 'raw'; value: string };
const auth: fc.Arbitrary<Auth> = fc.oneof(
  { weight: 20, arbitrary: fc.constant({ kind: 'valid' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom(
          'Bearer',
          'Bearer ',
          'bearer ak_',
          'Basic dXNlcjpwYXNz',
          `Bearer ak_${'A'.repeat(43)}`,
        ),
        headerText.map((s) => `Bearer ${s}`),
        headerText,
      )
      .map((value) => ({ kind: 'raw' as const, value })),
  },
);
/** Usually absent, so the rest of the request gets its turn. */
const optionalHeader = fc.oneof(
  { weight: 5, arbitrary: fc.constant(undefined) },
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }),
  headerText,
);

// ---- requests --------------------------------------------------------------------------------

/** encodeURIComponent, except that a lone surrogate goes out as its 3 raw bytes (WTF-8) instead of throwing. */
function percentEncode(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (cp < 0xd800 || cp > 0xdfff) out += encodeURIComponent(ch);
    else
      for (const b of [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)])
        out += `%${b.toString(16)}`;
  }
  return out;
}

interface FuzzRequest {
  method: string;
  path: string;
  body?: string | Uint8Array;
  contentType?: string;
  auth: Auth;
  headers: Record<string, string | undefined>;
}

const pathSegment = fc.oneof(
  fc.constant('{callId}'),
  fc.uuid().map((u) => u),
  fc.constantFrom(
    'nope',
    '%00',
    '%',
    '%zz',
    '%E0%A4%A',
    '..',
    '%2e%2e%2f',
    'x'.repeat(5_000),
    'x'.repeat(20_000),
    '',
  ),
  fc.string({ unit: char, maxLength: 40 }).map(percentEncode),
);
const queryValue = fc.oneof(
  fc.constantFrom(
    '1',
    '100',
    '101',
    '0',
    '-1',
    '1.5',
    '1e2',
    '0x10',
    'NaN',
    '',
    '%00',
    '%',
    'completed,failed',
  ),
  fc.constantFrom('queued', 'completed,no_answer', 'completed,,', 'COMPLETED'),
  fc.string({ unit: char, maxLength: 30 }).map(percentEncode),
  fc
    .tuple(fc.string({ unit: char, maxLength: 30 }), fc.string({ unit: char, maxLength: 40 }))
    .map(([t, id]) => Buffer.from(JSON.stringify([t, id])).toString('base64url')),
  fc
    .constantFrom('2020-02-31T00:00:00.000000Z', '0000-01-01T00:00:00.000000Z', '9999-12-31T23:59:59.999999Z')
    .map((t) =>
      Buffer.from(JSON.stringify([t, '00000000-0000-4000-8000-000000000000'])).toString('base64url'),
    ),
);
const query = fc
  .array(fc.tuple(fc.constantFrom('limit', 'cursor', 'status', 'other', 'limit[]'), queryValue), {
    maxLength: 4,
  })
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));

const common = {
  auth,
  headers: fc.record(
    {
      'idempotency-key': optionalHeader,
      'x-request-id': optionalHeader,
      range: fc.option(
        fc.oneof(
          fc.constantFrom('bytes=0-10', 'bytes=-5', 'bytes=999999-', 'bytes=5-1', 'bytes=0-1,3-4'),
          headerText,
        ),
        { nil: undefined },
      ),
      accept: fc.option(fc.constantFrom('application/json', 'text/html', '*/*', 'audio/wav'), {
        nil: undefined,
      }),
    },
    { requiredKeys: [] },
  ),
};

const request: fc.Arbitrary<FuzzRequest> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      method: fc.constant('POST'),
      path: fc.constant('/v1/agent/calls'),
      body,
      contentType,
      ...common,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      method: fc.constant('GET'),
      path: query.map((q) => `/v1/agent/calls${q}`),
      ...common,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      method: fc.constantFrom('GET', 'HEAD'),
      path: fc
        .tuple(pathSegment, fc.constantFrom('', '/recording'))
        .map(([id, tail]) => `/v1/agent/calls/${id}${tail}`),
      ...common,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      method: fc.constant('POST'),
      path: pathSegment.map((id) => `/v1/agent/calls/${id}/cancel`),
      body: fc.option(body, { nil: undefined }),
      contentType,
      ...common,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      method: fc.constant('POST'),
      path: fc.constant('/v1/agent/webhooks/redeliver'),
      body: fc.option(
        fc.oneof(
          body,
          fc
            .record(
              { callId: fc.oneof(fc.constant('{callId}'), fc.uuid(), text, jsonValue) },
              { requiredKeys: [] },
            )
            .map((b) => JSON.stringify(b)),
        ),
        { nil: undefined },
      ),
      contentType,
      ...common,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      method: fc.constantFrom('PUT', 'PATCH', 'DELETE', 'OPTIONS', 'GET', 'POST'),
      path: fc.constantFrom(
        '/',
        '/healthz',
        '/readyz',
        '/openapi.json',
        '/docs',
        '/v1',
        '/v1/agent/calls',
        '/mcp',
      ),
      body: fc.option(body, { nil: undefined }),
      contentType,
      ...common,
    }),
  },
);

function send(r: FuzzRequest): Promise<Response> {
  const headers = new Headers();
  for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers.set(k, v);
  if (r.auth.kind === 'valid') headers.set('authorization', `Bearer ${api.key}`);
  else if (r.auth.kind === 'raw') headers.set('authorization', r.auth.value);
  if (r.contentType !== undefined) headers.set('content-type', r.contentType);
  const hasBody = r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD';
  const payload = typeof r.body === 'string' ? r.body.replaceAll('{callId}', callId) : r.body;
  return fetch(`${api.url}${r.path.replaceAll('{callId}', callId)}`, {
    method: r.method,
    headers,
    body: hasBody ? payload : undefined,
    redirect: 'manual',
  });
}

/** Logged on failure with the seed: the request as sent, long strings cut so the report stays readable. */
function describeRequest(r: FuzzRequest): string {
  const b = r.body instanceof Uint8Array ? `<${r.body.length} bytes>` : r.body;
  return JSON.stringify({ ...r, body: b && b.length > 300 ? `${b.slice(0, 300)}… (${b.length})` : b });
}

describe('fuzzed requests', () => {
  it(`never answer 5xx, and every error is { error: { code, message } } (seed ${SEED}, ${RUNS} runs)`, {
    timeout: 300_000,
  }, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const res = await send(r);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const text = await res.text();
        const what = `${res.status} for ${describeRequest(r)}\n-> ${text.slice(0, 500)}`;
        expect(res.status, what).toBeLessThan(500);
        // `/` is the dashboard's: a browser (Accept: text/html) gets its HTML error page there, not JSON.
        const dashboardPage = r.path === '/' && (r.headers.accept ?? '').includes('text/html');
        if (dashboardPage && res.status >= 400) {
          expect(res.headers.get('content-type'), what).toMatch(/^text\/html/);
          expect(text, what).not.toMatch(/\n\s+at |\.ts:\d+/);
        } else if (res.status >= 400 && r.method !== 'HEAD') {
          expect(res.headers.get('content-type'), what).toMatch(/^application\/json/);
          const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
          expect(Object.keys(parsed), what).toEqual(['error']);
          expect(typeof parsed.error?.code, what).toBe('string');
          expect(typeof parsed.error?.message, what).toBe('string');
          expect(text, what).not.toMatch(/\n\s+at |\.ts:\d+/);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // The generators must reach the database (stored calls) as well as every kind of refusal.
    const seen = JSON.stringify(Object.fromEntries(statuses));
    for (const status of [201, 400, 401, 404, 413, 422]) {
      expect(statuses.get(status) ?? 0, `${status}s among ${seen}`).toBeGreaterThan(0);
    }
  });
});
