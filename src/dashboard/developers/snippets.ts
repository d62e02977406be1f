/** One ready-to-paste example of calling this deployment. */
export interface Snippet {
  id: 'curl' | 'python' | 'node' | 'mcp-stdio' | 'mcp-http';
  title: string;
  /** What the reader needs beside the snippet, in one sentence. */
  note: string;
  code: string;
}

/** The destination of the examples: the README's, a callee of the simulated PBX (the restaurant host). */
export const EXAMPLE_TO = '+14155550100';
const EXAMPLE_OBJECTIVE = 'Book a table for two tomorrow at 7 pm';
/** Every snippet reads the key from here, so none of them ever carries a secret when copied. */
export const KEY_ENV = 'AGENTLINE_API_KEY';

/**
 * The curl, Python, Node and MCP examples for the deployment at `baseUrl`. They place a call and read
 * it back, with the calls the SDKs and MCP server really have (sdk/, src/mcp), so a pasted snippet works
 * as is once the key is exported.
 */
export function buildSnippets(baseUrl: string): Snippet[] {
  const base = baseUrl.replace(/\/+$/, '');
  const body = JSON.stringify({ to: EXAMPLE_TO, objective: EXAMPLE_OBJECTIVE, maxDurationSeconds: 60 });
  return [
    {
      id: 'curl',
      title: 'curl',
      note: `Export ${KEY_ENV}=ak_... first; the first request places the call, the second reads it back.`,
      code: [
        `curl -s ${shellQuote(`${base}/v1/agent/calls`)} -H "authorization: Bearer $${KEY_ENV}" \\`,
        `  -H 'content-type: application/json' -d ${shellQuote(body)}`,
        `curl -s ${shellQuote(`${base}/v1/agent/calls/`)}CALL_ID -H "authorization: Bearer $${KEY_ENV}"   # CALL_ID from the answer above`,
      ].join('\n'),
    },
    {
      id: 'python',
      title: 'Python SDK',
      note: 'Python 3.8 or later, standard library only: pip install ./sdk/python from the agentline checkout.',
      code: [
        'import os',
        'from agentline import Client',
        '',
        `client = Client(os.environ[${pyString(KEY_ENV)}], ${pyString(base)})`,
        `placed = client.place_call(${pyString(EXAMPLE_TO)}, ${pyString(EXAMPLE_OBJECTIVE)}, maxDurationSeconds=60)`,
        'call = client.get_call(placed["callId"])  # client.wait_for_call(...) polls until it ends',
        'print(call["callId"], call["status"])',
      ].join('\n'),
    },
    {
      id: 'node',
      title: 'Node SDK',
      note: 'Node 18 or later, no dependencies: npm install ./sdk/node from the agentline checkout (an ES module).',
      code: [
        "import { Client } from 'agentline-client';",
        '',
        `const client = new Client(process.env.${KEY_ENV}, ${JSON.stringify(base)});`,
        `const placed = await client.placeCall({ to: ${JSON.stringify(EXAMPLE_TO)}, objective: ${JSON.stringify(EXAMPLE_OBJECTIVE)}, maxDurationSeconds: 60 });`,
        'const call = await client.getCall(placed.callId); // client.waitForCall(...) polls until it ends',
        'console.log(call.callId, call.status);',
      ].join('\n'),
    },
    {
      id: 'mcp-stdio',
      title: 'MCP (stdio)',
      note: 'For an MCP client that starts servers itself (Claude Desktop and the like), run from the agentline checkout; replace the key.',
      code: JSON.stringify(
        {
          mcpServers: {
            agentline: {
              command: 'npx',
              args: ['agentline', 'mcp'],
              env: { [KEY_ENV]: 'ak_...', AGENTLINE_BASE_URL: base },
            },
          },
        },
        null,
        2,
      ),
    },
    {
      id: 'mcp-http',
      title: 'MCP (streamable HTTP)',
      note: 'For an MCP client that connects over HTTP; the same tools, the same bearer key.',
      code: JSON.stringify(
        {
          mcpServers: {
            agentline: { type: 'http', url: `${base}/mcp`, headers: { Authorization: 'Bearer ak_...' } },
          },
        },
        null,
        2,
      ),
    },
  ];
}

/** Single-quoted for sh: nothing inside is expanded, a quote is closed, escaped and reopened. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A Python string literal; JSON's escapes are valid Python for the text these snippets hold. */
function pyString(s: string): string {
  return JSON.stringify(s);
}
