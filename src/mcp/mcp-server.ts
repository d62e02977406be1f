import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AgentlineError, type Client } from '../../sdk/node/agentline.js';
import {
  addDoNotCallInput,
  addDoNotCallOutput,
  batchIdInput,
  batchOutput,
  batchWithCallsOutput,
  callOutput,
  cancelCallInput,
  checkDoNotCallOutput,
  createBatchInput,
  createBatchOutput,
  doNotCallNumberInput,
  getBatchInput,
  getCallInput,
  listCallsInput,
  listCallsOutput,
  placeCallInput,
  placeCallOutput,
  removeDoNotCallOutput,
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
export type CallsApi = Pick<
  Client,
  | 'placeCall'
  | 'getCall'
  | 'listCalls'
  | 'cancelCall'
  | 'createBatch'
  | 'getBatch'
  | 'pauseBatch'
  | 'resumeBatch'
  | 'cancelBatch'
  | 'addDoNotCall'
  | 'checkDoNotCall'
  | 'removeDoNotCall'
> &
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

/**
 * An MCP server with the five call tools of the spec, and the batch and do-not-call tools of the
 * outbound extension (docs/outbound.md), backed by the REST API through `api`.
 */
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
  registerBatchTools(server, api);
  registerDoNotCallTools(server, api);
  return server;
}

function registerBatchTools(server: McpServer, api: CallsApi) {
  server.registerTool(
    'create_batch',
    {
      title: 'Place a batch of phone calls',
      description:
        'Places many calls that share one template (objective, context, fields, voicemail, transfer, ...) with {{variable}} placeholders filled from each row, and returns at once. ' +
        'Each row is checked as a single call would be: the answer lists the accepted rows with their callId and the refused ones with the error code (a bad row does not stop the others; all rows refused is an invalid_request error). ' +
        'Calls ring only inside their calling window and never to numbers on a do-not-call list. Follow progress with get_batch.',
      inputSchema: createBatchInput,
      outputSchema: createBatchOutput,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        openWorldHint: true,
      },
    },
    ({ idempotencyKey, ...body }) =>
      guard(async () => {
        const res = await api.createBatch(body as never, { idempotencyKey });
        return ok(
          res,
          res.refusedRows > 0
            ? `${res.refusedRows} of ${res.totalRows} rows were refused; see refused[] for each row's error.`
            : undefined,
        );
      }),
  );
  server.registerTool(
    'get_batch',
    {
      title: 'Get a batch',
      description:
        'A batch as it stands: status (running, paused, canceled, completed), counts of its calls by status, progress { ended, total }, the rows refused when it was placed, and one page of its calls (row, callId, to, status, endedReason, attempt, scheduledFor). completedAt is set once every call has ended. Does not wait.',
      inputSchema: getBatchInput,
      outputSchema: batchWithCallsOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ batchId, limit, cursor }) => guard(async () => ok(await api.getBatch(batchId, { limit, cursor }))),
  );
  server.registerTool(
    'pause_batch',
    {
      title: 'Pause a batch',
      description:
        'Holds the batch’s queued calls (they do not dial until resume_batch); calls already ringing or live go on. A batch that has ended is a batch_already_ended error.',
      inputSchema: batchIdInput,
      outputSchema: batchOutput,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    ({ batchId }) => guard(async () => ok(await api.pauseBatch(batchId))),
  );
  server.registerTool(
    'resume_batch',
    {
      title: 'Resume a batch',
      description:
        'Lets a paused batch’s queued calls dial again (still only inside their calling windows). A batch that has ended is a batch_already_ended error.',
      inputSchema: batchIdInput,
      outputSchema: batchOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    ({ batchId }) => guard(async () => ok(await api.resumeBatch(batchId))),
  );
  server.registerTool(
    'cancel_batch',
    {
      title: 'Cancel a batch',
      description:
        'Cancels a batch: its queued calls end failed with endedReason canceled and never dial; calls already ringing or live finish. A batch that has ended is a batch_already_ended error.',
      inputSchema: batchIdInput,
      outputSchema: batchOutput,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    },
    ({ batchId }) => guard(async () => ok(await api.cancelBatch(batchId))),
  );
}

function registerDoNotCallTools(server: McpServer, api: CallsApi) {
  server.registerTool(
    'add_do_not_call',
    {
      title: 'Add numbers to the do-not-call list',
      description:
        'Puts numbers on this account’s do-not-call list: placing a call or batch row to one is refused (destination_blocked, details.category do_not_call), and a queued call to one never dials. Answers { added, alreadyListed, invalid[] }.',
      inputSchema: addDoNotCallInput,
      outputSchema: addDoNotCallOutput,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    ({ numbers, note }) => guard(async () => ok(await api.addDoNotCall(numbers, { note }))),
  );
  server.registerTool(
    'check_do_not_call',
    {
      title: 'Check the do-not-call list',
      description:
        'Whether a number may not be called: { number, listed, list: "account" | "deployment" | null, source, createdAt }. The deployment’s own list counts too.',
      inputSchema: doNotCallNumberInput,
      outputSchema: checkDoNotCallOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ number }) => guard(async () => ok(await api.checkDoNotCall(number))),
  );
  server.registerTool(
    'remove_do_not_call',
    {
      title: 'Remove a number from the do-not-call list',
      description:
        'Takes a number off this account’s do-not-call list, so it may be called again. A number not on the list is not_found; one on the deployment’s list cannot be removed here (dnc_deployment_list).',
      inputSchema: doNotCallNumberInput,
      outputSchema: removeDoNotCallOutput,
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: false,
        openWorldHint: false,
      },
    },
    ({ number }) =>
      guard(async () => {
        await api.removeDoNotCall(number);
        return ok({ number, removed: true });
      }),
  );
}
