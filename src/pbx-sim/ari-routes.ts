import fs from 'node:fs';
import { AriError } from './errors.js';
import type { PbxCore } from './pbx-core.js';
import type { RecordingStore } from './recording-store.js';

export interface AriRequest {
  params: Record<string, string>;
  /** A parameter from the query string or, as Asterisk also accepts, from a JSON object body. */
  param(name: string): string | undefined;
  int(name: string, fallback: number): number;
  bool(name: string, fallback: boolean): boolean;
  /** `variables` as ARI takes it: `{"variables": {...}}` in the body. */
  variables(): Record<string, string> | undefined;
}

export type AriResult =
  | { status: 200; json: unknown }
  | { status: 204 }
  | { status: 200; file: string; contentType: string };

export interface AriRoute {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT';
  /** The path as the ARI swagger writes it, under `/ari`. */
  path: string;
  handle(req: AriRequest): AriResult | Promise<AriResult>;
}

const ok = (json: unknown): AriResult => ({ status: 200, json });
const none: AriResult = { status: 204 };

/** Every ARI operation the simulator serves. */
export function ariRoutes(
  core: PbxCore,
  recordings: RecordingStore,
  info: { asteriskId: string; startedAt: string; version: string },
): AriRoute[] {
  return [
    {
      method: 'GET',
      path: '/asterisk/info',
      handle: () =>
        ok({
          build: {
            os: 'Linux',
            kernel: process.platform,
            options: 'agentline-pbx-sim',
            machine: process.arch,
            date: info.startedAt,
            user: 'agentline',
          },
          system: { version: info.version, entity_id: info.asteriskId },
          config: {
            name: 'agentline-pbx-sim',
            default_language: 'en',
            setid: { user: 'asterisk', group: 'asterisk' },
          },
          status: { startup_time: info.startedAt, last_reload_time: info.startedAt },
        }),
    },
    {
      method: 'GET',
      path: '/asterisk/ping',
      handle: () =>
        ok({
          asterisk_id: info.asteriskId,
          ping: 'pong',
          timestamp: new Date().toISOString().replace('Z', '+0000'),
        }),
    },
    { method: 'GET', path: '/applications', handle: () => ok(core.applications()) },
    {
      method: 'GET',
      path: '/applications/{applicationName}',
      handle: (r) => {
        const app = core.applications().find((a) => a.name === r.params.applicationName);
        if (!app) throw new AriError(404, 'Application not found');
        return ok(app);
      },
    },
    // ---------- channels ----------
    { method: 'GET', path: '/channels', handle: () => ok(core.listChannels()) },
    {
      method: 'POST',
      path: '/channels',
      handle: (r) =>
        ok(
          core.originate({
            endpoint: r.param('endpoint'),
            app: r.param('app'),
            appArgs: r.param('appArgs'),
            extension: r.param('extension'),
            context: r.param('context'),
            callerId: r.param('callerId'),
            timeout: r.int('timeout', 30),
            channelId: r.param('channelId'),
            variables: r.variables(),
          }),
        ),
    },
    {
      method: 'POST',
      path: '/channels/externalMedia',
      handle: async (r) =>
        ok(
          await core.externalMedia({
            channelId: r.param('channelId'),
            app: r.param('app'),
            external_host: r.param('external_host'),
            encapsulation: r.param('encapsulation'),
            transport: r.param('transport'),
            connection_type: r.param('connection_type'),
            format: r.param('format'),
            direction: r.param('direction'),
            variables: r.variables(),
          }),
        ),
    },
    { method: 'GET', path: '/channels/{channelId}', handle: (r) => ok(core.getChannel(r.params.channelId)) },
    {
      method: 'POST',
      path: '/channels/{channelId}/snoop',
      handle: (r) =>
        ok(
          core.snoop(r.params.channelId, {
            app: r.param('app'),
            spy: r.param('spy'),
            whisper: r.param('whisper'),
            appArgs: r.param('appArgs'),
            snoopId: r.param('snoopId'),
          }),
        ),
    },
    {
      method: 'POST',
      path: '/channels/{channelId}/snoop/{snoopId}',
      handle: (r) =>
        ok(
          core.snoop(r.params.channelId, {
            app: r.param('app'),
            spy: r.param('spy'),
            whisper: r.param('whisper'),
            appArgs: r.param('appArgs'),
            snoopId: r.params.snoopId,
          }),
        ),
    },
    {
      method: 'POST',
      path: '/channels/{channelId}',
      handle: (r) =>
        ok(
          core.originate({
            endpoint: r.param('endpoint'),
            app: r.param('app'),
            appArgs: r.param('appArgs'),
            extension: r.param('extension'),
            context: r.param('context'),
            callerId: r.param('callerId'),
            timeout: r.int('timeout', 30),
            channelId: r.params.channelId,
            variables: r.variables(),
          }),
        ),
    },
    {
      method: 'DELETE',
      path: '/channels/{channelId}',
      handle: (r) => {
        core.hangup(r.params.channelId, r.param('reason'), r.param('reason_code'));
        return none;
      },
    },
    {
      method: 'POST',
      path: '/channels/{channelId}/answer',
      handle: (r) => {
        core.answer(r.params.channelId);
        return none;
      },
    },
    {
      method: 'POST',
      path: '/channels/{channelId}/continue',
      handle: (r) => {
        const priority = r.param('priority');
        core.continueInDialplan(
          r.params.channelId,
          r.param('context'),
          r.param('extension'),
          priority === undefined ? undefined : r.int('priority', 1),
        );
        return none;
      },
    },
    {
      method: 'GET',
      path: '/channels/{channelId}/variable',
      handle: (r) => ok(core.getVar(r.params.channelId, r.param('variable'))),
    },
    {
      method: 'POST',
      path: '/channels/{channelId}/variable',
      handle: (r) => {
        core.setVar(r.params.channelId, r.param('variable'), r.param('value'));
        return none;
      },
    },
    {
      method: 'POST',
      path: '/channels/{channelId}/dtmf',
      handle: (r) => {
        core.sendDtmf(r.params.channelId, r.param('dtmf'), {
          before: r.int('before', 0),
          between: r.int('between', 100),
          duration: r.int('duration', 100),
          after: r.int('after', 0),
        });
        return none;
      },
    },
    // ---------- bridges ----------
    { method: 'GET', path: '/bridges', handle: () => ok(core.listBridges()) },
    {
      method: 'POST',
      path: '/bridges',
      handle: (r) => ok(core.createBridge(r.param('type'), r.param('bridgeId'), r.param('name'))),
    },
    {
      method: 'POST',
      path: '/bridges/{bridgeId}',
      handle: (r) => ok(core.createBridge(r.param('type'), r.params.bridgeId, r.param('name'))),
    },
    { method: 'GET', path: '/bridges/{bridgeId}', handle: (r) => ok(core.getBridge(r.params.bridgeId)) },
    {
      method: 'DELETE',
      path: '/bridges/{bridgeId}',
      handle: (r) => {
        core.destroyBridge(r.params.bridgeId);
        return none;
      },
    },
    {
      method: 'POST',
      path: '/bridges/{bridgeId}/addChannel',
      handle: (r) => {
        core.addChannel(r.params.bridgeId, r.param('channel'));
        return none;
      },
    },
    {
      method: 'POST',
      path: '/bridges/{bridgeId}/removeChannel',
      handle: (r) => {
        core.removeChannel(r.params.bridgeId, r.param('channel'));
        return none;
      },
    },
    {
      method: 'POST',
      path: '/bridges/{bridgeId}/record',
      handle: async (r) =>
        ok(
          await core.recordBridge(r.params.bridgeId, {
            name: r.param('name'),
            format: r.param('format'),
            maxDurationSeconds: r.int('maxDurationSeconds', 0),
            maxSilenceSeconds: r.int('maxSilenceSeconds', 0),
            ifExists: r.param('ifExists'),
            beep: r.bool('beep', false),
            terminateOn: r.param('terminateOn'),
          }),
        ),
    },
    // ---------- recordings ----------
    { method: 'GET', path: '/recordings/stored', handle: async () => ok(await recordings.list()) },
    {
      method: 'GET',
      path: '/recordings/stored/{recordingName}',
      handle: async (r) => {
        const { name, format } = await recordings.get(r.params.recordingName);
        return ok({ name, format });
      },
    },
    {
      method: 'DELETE',
      path: '/recordings/stored/{recordingName}',
      handle: async (r) => {
        await recordings.delete(r.params.recordingName);
        return none;
      },
    },
    {
      method: 'GET',
      path: '/recordings/stored/{recordingName}/file',
      handle: async (r) => {
        const { file } = await recordings.get(r.params.recordingName);
        await fs.promises.access(file, fs.constants.R_OK).catch(() => {
          throw new AriError(403, 'The recording file could not be opened');
        });
        return { status: 200, file, contentType: 'audio/wav' };
      },
    },
    {
      method: 'GET',
      path: '/recordings/live/{recordingName}',
      handle: (r) => ok(core.getLiveRecording(r.params.recordingName)),
    },
    {
      method: 'DELETE',
      path: '/recordings/live/{recordingName}',
      handle: (r) => {
        core.cancelLiveRecording(r.params.recordingName);
        return none;
      },
    },
    {
      method: 'POST',
      path: '/recordings/live/{recordingName}/stop',
      handle: (r) => {
        core.stopLiveRecording(r.params.recordingName);
        return none;
      },
    },
  ];
}
