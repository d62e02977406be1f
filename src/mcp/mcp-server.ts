import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { AgentlineError, type Client } from '../../sdk/node/agentline.js';
import { CALL_STATUSES } from '../calls/status.js';

/** The part of the Node SDK client the tools use; the tools speak the REST API and nothing else. */
export type CallsApi = Pick<Client, 'placeCall' | 'getCall' | 'listCalls' | 'cancelCall' | 'waitForCall'>;

const STATUS = z.enum(CALL_STATUSES);

// The same fields as POST /v1/agent/calls; the API validates limits and answers its own errors.
const placeCallShape = {
  to: z.string().describe('Destination in strict E.164, e.g. +14155550100'),
  objective: z.string().describe('What the agent must achieve on the call'),
  context: z.string().optional().describe('Background the agent knows but does not read out'),
  fields: z
    .array(
      z.object({
        name: z.string(),
        type: z.enum(['string', 'boolean', 'number']).optional(),
        description: z.string().optional(),
      }),
    )
    .optional()
    .describe('Values to extract from the conversation'),
  webhookUrl: z.string().optional(),
  callerId: z.string().optional().describe("One of the account's numbers; default: the account default"),
  language: z.string().optional(),
  voice: z.string().optional(),
  maxDurationSeconds: z.number().int().optional(),
  voicemail: z
    .union([
      z.object({ action: z.literal('hangup') }),
      z.object({ action: z.literal('leave_message'), message: z.string() }),
    ])
    .optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  idempotencyKey: z.string().optional().describe('Same key and body within 24 h places no second call'),
};

function ok(value: unknown) {
  return {
    content: [{ type: 'text' as const, text: JSON.stringify(value, null, 2) }],
    structuredContent: value as Record<string, unknown>,
  };
}

function fail(err: unknown) {
  const body =
    err instanceof AgentlineError
      ? {
          error: {
            code: err.code,
            status: err.status,
            message: err.message,
            details: err.details ?? undefined,
          },
        }
      : { error: { code: 'internal_error', message: err instanceof Error ? err.message : String(err) } };
  return { content: [{ type: 'text' as const, text: JSON.stringify(body) }], isError: true };
}

async function guard(fn: () => Promise<unknown>) {
  try {
    return ok(await fn());
  } catch (err) {
    return fail(err);
  }
}

/** An MCP server with the five call tools of the spec, backed by the REST API through `api`. */
export function createMcpServer(api: CallsApi, version = '0.1.0'): McpServer {
  const server = new McpServer({ name: 'agentline', version });
  server.registerTool(
    'place_call',
    {
      title: 'Place a phone call',
      description:
        'Places an outbound phone call that an AI agent conducts to reach the objective. Returns { callId, status }. ' +
        'Use wait_for_call to get the summary, transcript and extracted fields.',
      inputSchema: placeCallShape,
    },
    ({ idempotencyKey, ...params }) => guard(() => api.placeCall(params as never, { idempotencyKey })),
  );
  server.registerTool(
    'get_call',
    {
      title: 'Get a call',
      description: 'Status, summary, transcript, turns, extracted fields and recording URL of one call.',
      inputSchema: { callId: z.string() },
    },
    ({ callId }) => guard(() => api.getCall(callId)),
  );
  server.registerTool(
    'list_calls',
    {
      title: 'List calls',
      description: 'Calls of this account, newest first, with a cursor for the next page.',
      inputSchema: {
        limit: z.number().int().min(1).max(100).optional(),
        cursor: z.string().optional(),
        status: STATUS.optional(),
      },
    },
    (q) => guard(() => api.listCalls(q)),
  );
  server.registerTool(
    'wait_for_call',
    {
      title: 'Wait for a call to end',
      description:
        'Polls until the call reaches a terminal status (default timeout 180 s, interval 5 s) and returns it.',
      inputSchema: {
        callId: z.string(),
        timeoutSeconds: z.number().positive().max(3600).optional(),
        intervalSeconds: z.number().positive().max(60).optional(),
      },
    },
    ({ callId, timeoutSeconds, intervalSeconds }) =>
      guard(() => api.waitForCall(callId, { timeoutSeconds, intervalSeconds })),
  );
  server.registerTool(
    'cancel_call',
    {
      title: 'Cancel a call',
      description: 'A queued call never dials; a ringing or live call is hung up. Ends as failed / canceled.',
      inputSchema: { callId: z.string() },
    },
    ({ callId }) => guard(() => api.cancelCall(callId)),
  );
  return server;
}
