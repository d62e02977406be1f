import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Client } from '../../sdk/node/agentline.js';
import { createMcpServer } from './mcp-server.js';

/**
 * Streamable-HTTP MCP at /mcp, stateless: each request gets its own server and transport, and the tools
 * call the REST API in-process (`apiFetch`) with the caller's own bearer key, so auth, isolation and
 * validation are exactly the REST API's. The in-process requests carry the origin the client reached
 * /mcp on, so absolute URLs (recordingUrl) are the REST API's: PUBLIC_BASE_URL, else that origin.
 */
export function createMcpHttpHandler(apiFetch: (req: Request) => Response | Promise<Response>) {
  const inProcessFetch = ((input: string | URL | Request, init?: RequestInit) =>
    apiFetch(new Request(input, init))) as typeof fetch;

  return async (req: Request): Promise<Response> => {
    if (req.method !== 'POST') {
      // Stateless: there is no session to stream server-initiated messages on, or to delete.
      return Response.json(
        { error: { code: 'method_not_allowed', message: 'MCP over HTTP here takes POST requests only.' } },
        { status: 405, headers: { allow: 'POST' } },
      );
    }
    const auth = req.headers.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) {
      return Response.json(
        { error: { code: 'unauthorized', message: 'Authorization: Bearer <agent key> is required.' } },
        { status: 401 },
      );
    }
    const origin = new URL(req.url).origin;
    // The key is checked by the REST API on every tool call; check it once here too, so a bad key fails fast.
    const probe = await apiFetch(
      new Request(`${origin}/v1/agent/calls?limit=1`, { headers: { authorization: `Bearer ${m[1]}` } }),
    );
    if (probe.status === 401) return new Response(probe.body, { status: 401, headers: probe.headers });
    await probe.body?.cancel();
    const client = new Client(m[1], origin, { fetch: inProcessFetch });
    const server = createMcpServer(client);
    // SSE responses, not JSON: progress notifications of a long wait_for_call travel on the response stream.
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    await server.connect(transport);
    let res: Response;
    try {
      res = await transport.handleRequest(req);
    } catch (err) {
      await server.close();
      throw err;
    }
    if (!res.body) {
      await server.close();
      return res;
    }
    // The per-request server lives as long as its response stream: until the tool's result is written,
    // or until the client goes away, which aborts the tool (a wait stops polling).
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            controller.close();
            await server.close();
          } else controller.enqueue(value);
        } catch (err) {
          controller.error(err);
          await server.close();
        }
      },
      async cancel(reason) {
        await reader.cancel(reason);
        await server.close();
      },
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
