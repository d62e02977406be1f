import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { Client } from '../../sdk/node/agentline.js';
import { createMcpServer } from './mcp-server.js';

/** `npx agentline mcp`: the tools over stdio, calling a running agentline over HTTP. */
export async function runMcpStdio(env: NodeJS.ProcessEnv): Promise<{ close(): Promise<void> }> {
  const key = env.AGENTLINE_API_KEY;
  if (!key)
    throw new Error('AGENTLINE_API_KEY is not set: give it an agent key (ak_...) of the account to act for');
  const baseUrl = env.AGENTLINE_BASE_URL ?? 'http://127.0.0.1:8080';
  const server = createMcpServer(new Client(key, baseUrl));
  const transport = new StdioServerTransport();
  await server.connect(transport);
  return { close: () => server.close() };
}
