import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AgentlineError, type Client } from '../../sdk/node/agentline.js';
import {
  callOutput,
  cancelCallInput,
  getCallInput,
  listCallsInput,
  listCallsOutput,
  placeCallInput,
  placeCallOutput,
  WAIT_DEFAULT_SECONDS,
  WAIT_HEARTBEAT_SECONDS,
  WAIT_INTERVAL_DEFAULT_SECONDS,
  WAIT_MAX_SECONDS,
  waitForCallInput,
  waitForCallOutput,
} from './tool-schemas.js';
import { waitForCall } from './wait-for-call.js';

/**
 * The part of the Node SDK client the tools use; the tools speak the REST API and nothing else. With
 * `callEvents`, wait_for_call follows the call's live event stream.
 */
export type CallsApi = Pick<Client, 'placeCall' | 'getCall' | 'listCalls' | 'cancelCall'> &
  Partial<Pick<Client, 'callEvents'>>;

function ok(value: object, note?: string) {
  const text = JSON.stringify(value, null, 2);
  return {
    content: [{ type: 'text' as const, text: note ? `${note}\n${text}` : text }],
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

async function guard(fn: () => Promise<ReturnType<typeof ok>>) {
  try {
    return await fn();
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
        'Places a real outbound phone call that an AI voice agent conducts to reach the objective, and returns at once with { callId, status: "queued" }. ' +
        'The call runs in the background (usually one to a few minutes): call wait_for_call with the callId to get the outcome, summary, transcript and extracted fields.',
      inputSchema: placeCallInput,
      outputSchema: placeCallOutput,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        openWorldHint: true,
      },
    },
    ({ idempotencyKey, ...params }) =>
      guard(async () => ok(await api.placeCall(params as never, { idempotencyKey }))),
  );
  server.registerTool(
    'get_call',
    {
      title: 'Get a call',
      description:
        'One call as it stands now: status (queued, dialing, in_progress, or terminal: completed, no_answer, voicemail, declined, failed), endedReason, summary, transcript, turns, extracted fields and recordingUrl. Does not wait.',
      inputSchema: getCallInput,
      outputSchema: callOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ callId }) => guard(async () => ok(await api.getCall(callId))),
  );
  server.registerTool(
    'list_calls',
    {
      title: 'List calls',
      description:
        'Calls of this account, newest first: callId, status, to, objective, createdAt, endedAt. Pass nextCursor back as cursor for the next page (null when there is none).',
      inputSchema: listCallsInput,
      outputSchema: listCallsOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    // The Node SDK types one status; the REST API (and so this tool) takes a comma list of them.
    (q) => guard(async () => ok(await api.listCalls(q as Parameters<CallsApi['listCalls']>[0]))),
  );
  server.registerTool(
    'wait_for_call',
    {
      title: 'Wait for a call to end',
      description:
        `Waits until the call reaches a terminal status or the time runs out (default ${WAIT_DEFAULT_SECONDS} s, at most ${WAIT_MAX_SECONDS} s), then returns the call with done: true (ended) or done: false (still running: call wait_for_call again). ` +
        `Sends progress notifications on each status change, each turn of the conversation as it completes ("callee: ..." / "agent: ...") and at least every ${WAIT_HEARTBEAT_SECONDS} s when the request has a progress token.`,
      inputSchema: waitForCallInput,
      outputSchema: waitForCallOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ callId, timeoutSeconds, intervalSeconds }, extra) =>
      guard(async () => {
        const token = extra._meta?.progressToken;
        // Without a progress token nothing can tell the client the request is alive, so the wait stays
        // inside the default that common clients allow a silent request.
        const limit = token === undefined ? WAIT_DEFAULT_SECONDS : WAIT_MAX_SECONDS;
        const { done, call } = await waitForCall((id) => api.getCall(id), callId, {
          timeoutSeconds: Math.min(timeoutSeconds ?? WAIT_DEFAULT_SECONDS, limit),
          intervalSeconds: intervalSeconds ?? WAIT_INTERVAL_DEFAULT_SECONDS,
          heartbeatSeconds: WAIT_HEARTBEAT_SECONDS,
          signal: extra.signal,
          events: api.callEvents ? (id, signal) => api.callEvents!(id, { signal }) : undefined,
          onProgress:
            token === undefined
              ? undefined
              : (p) =>
                  extra.sendNotification({
                    method: 'notifications/progress',
                    params: { progressToken: token, ...p },
                  }),
        });
        return ok(
          { ...call, done },
          done ? undefined : `The call is still ${call.status}; call wait_for_call again to keep waiting.`,
        );
      }),
  );
  server.registerTool(
    'cancel_call',
    {
      title: 'Cancel a call',
      description:
        'Cancels a call: a queued call never dials; a ringing or live call is hung up at once. The call ends as status failed, endedReason canceled. A call already ended is a call_already_ended error.',
      inputSchema: cancelCallInput,
      outputSchema: callOutput,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    },
    ({ callId }) => guard(async () => ok(await api.cancelCall(callId))),
  );
  return server;
}
