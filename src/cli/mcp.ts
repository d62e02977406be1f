import { runMcpStdio } from '../mcp/mcp-stdio.js';
import { parseFlags } from './args.js';
import { showUsage } from './output.js';
import { type CliCommand, CliError } from './types.js';

const usage = `Usage:
  agentline mcp

Serves the MCP tools place_call, get_call, list_calls, wait_for_call and cancel_call over stdio,
for an MCP client (Claude Desktop, an agent framework) to start as a subprocess. The tools call a
running agentline over HTTP:
  AGENTLINE_API_KEY   the agent key (ak_...) of the account to act for (required)
  AGENTLINE_BASE_URL  the API's base URL (default http://127.0.0.1:8080)
The same tools are served over streamable HTTP at /mcp by \`agentline serve\`.`;

export const mcpCommand: CliCommand = {
  name: 'mcp',
  summary: 'serve the MCP tools over stdio (for MCP clients)',
  usage,
  async run(argv, io) {
    const flags = parseFlags(argv, {}, 'mcp');
    if (flags.help) return showUsage(io, usage);
    let handle: { close(): Promise<void> };
    try {
      handle = await runMcpStdio(io.env);
    } catch (err) {
      throw new CliError(`mcp: ${(err as Error).message}`);
    }
    // stdout belongs to the protocol now; the session ends when the client closes our stdin.
    await new Promise<void>((resolve) => {
      process.stdin.once('end', resolve);
      process.stdin.once('close', resolve);
    });
    await handle.close();
    return 0;
  },
};
