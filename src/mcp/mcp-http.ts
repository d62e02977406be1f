import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Client } from '../../sdk/node/agentline.js';
import { createMcpServer } from './mcp-server.js';

/**
 * Streamable-HTTP MCP at /mcp, stateless: each request gets its own server and transport, and the tools
 * call the REST API in-process (`apiFetch`) with the caller's own bearer key, so auth, isolation and
 * validation are exactly the REST API's.
 */
export function createMcpHttpHandler(apiFetch: (req: Request) => Response | Promise<Response>) {
  const inProcessFetch = ((input: string | URL | Request, init?: RequestInit) =>
    apiFetch(new Request(input, init))) as typeof fetch;

  return async (req: Request): Promise<Response> => {
    const auth = req.headers.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) {
      return Response.json(
        { error: { code: 'unauthorized', message: 'Authorization: Bearer <agent key> is required.' } },
        { status: 401 },
      );
    }
    // The key is checked by the REST API on every tool call; check it once here too, so a bad key fails fast.
    const probe = await apiFetch(
      new Request('http://in-process/v1/agent/calls?limit=1', {
        headers: { authorization: `Bearer ${m[1]}` },
      }),
    );
    if (probe.status === 401) return new Response(probe.body, { status: 401, headers: probe.headers });
    const client = new Client(m[1], 'http://in-process', { fetch: inProcessFetch });
    const server = createMcpServer(client);
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    await server.connect(transport);
    try {
      return await transport.handleRequest(req);
    } finally {
      // JSON responses are complete when handleRequest resolves; closing frees the per-request server.
      void server.close();
    }
  };
}
