/**
 * The subset of the Asterisk REST Interface (Asterisk 22 Swagger models) that agentline reads.
 * Field names are Asterisk's own (snake_case included); test/telephony/ari-contract.test.ts checks
 * them against the Swagger documents.
 */

export interface AriCallerId {
  name: string;
  number: string;
}

export interface AriDialplanCep {
  context: string;
  exten: string;
  priority: number;
  app_name: string;
  app_data: string;
}

export type AriChannelState =
  | 'Down'
  | 'Rsrved'
  | 'OffHook'
  | 'Dialing'
  | 'Ring'
  | 'Ringing'
  | 'Up'
  | 'Busy'
  | 'Dialing Offhook'
  | 'Pre-ring'
  | 'Unknown';

export interface AriChannel {
  id: string;
  name: string;
  state: AriChannelState;
  caller: AriCallerId;
  connected: AriCallerId;
  dialplan: AriDialplanCep;
  creationtime: string;
  language: string;
  channelvars?: Record<string, string>;
}

export interface AriBridge {
  id: string;
  technology: string;
  bridge_type: string;
  bridge_class: string;
  creator: string;
  name: string;
  channels: string[];
  creationtime: string;
}

export interface AriLiveRecording {
  name: string;
  format: string;
  target_uri: string;
  state: 'queued' | 'recording' | 'paused' | 'done' | 'failed' | 'canceled';
  duration?: number;
  cause?: string;
}

export interface AriVariable {
  value: string;
}

export interface AriAsteriskInfo {
  system?: { version?: string; entity_id?: string };
  [key: string]: unknown;
}

interface AriEventBase {
  application: string;
  timestamp: string;
  asterisk_id?: string;
}

export interface StasisStartEvent extends AriEventBase {
  type: 'StasisStart';
  args: string[];
  channel: AriChannel;
}
export interface StasisEndEvent extends AriEventBase {
  type: 'StasisEnd';
  channel: AriChannel;
}
export interface ChannelStateChangeEvent extends AriEventBase {
  type: 'ChannelStateChange';
  channel: AriChannel;
}
export interface ChannelDestroyedEvent extends AriEventBase {
  type: 'ChannelDestroyed';
  cause: number;
  cause_txt: string;
  /** The technology's own cause (over PJSIP the SIP answer, e.g. 486), when the far end ended it. */
  tech_cause?: number;
  channel: AriChannel;
}
export interface ChannelHangupRequestEvent extends AriEventBase {
  type: 'ChannelHangupRequest';
  cause?: number;
  /** The technology's own cause (over PJSIP the SIP answer, e.g. 486), when the far end ended it. */
  tech_cause?: number;
  soft?: boolean;
  channel: AriChannel;
}
export interface ChannelDtmfReceivedEvent extends AriEventBase {
  type: 'ChannelDtmfReceived';
  digit: string;
  duration_ms: number;
  channel: AriChannel;
}
export interface ChannelVarsetEvent extends AriEventBase {
  type: 'ChannelVarset';
  variable: string;
  value: string;
  channel?: AriChannel;
}
export interface DialEvent extends AriEventBase {
  type: 'Dial';
  caller?: AriChannel;
  peer: AriChannel;
  dialstring?: string;
  /** Empty while the dial is in progress; ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL… at its end. */
  dialstatus: string;
}
export interface RecordingStartedEvent extends AriEventBase {
  type: 'RecordingStarted';
  recording: AriLiveRecording;
}
export interface RecordingFinishedEvent extends AriEventBase {
  type: 'RecordingFinished';
  recording: AriLiveRecording;
}
export interface RecordingFailedEvent extends AriEventBase {
  type: 'RecordingFailed';
  recording: AriLiveRecording;
}

/** The events the controller acts on; any other event type still reaches `onEvent` listeners untyped. */
export type AriEvent =
  | StasisStartEvent
  | StasisEndEvent
  | ChannelStateChangeEvent
  | ChannelDestroyedEvent
  | ChannelHangupRequestEvent
  | ChannelDtmfReceivedEvent
  | ChannelVarsetEvent
  | DialEvent
  | RecordingStartedEvent
  | RecordingFinishedEvent
  | RecordingFailedEvent;

export type AriEventType = AriEvent['type'];

export const HANDLED_EVENT_TYPES: readonly AriEventType[] = [
  'StasisStart',
  'StasisEnd',
  'ChannelStateChange',
  'ChannelDestroyed',
  'ChannelHangupRequest',
  'ChannelDtmfReceived',
  'ChannelVarset',
  'Dial',
  'RecordingStarted',
  'RecordingFinished',
  'RecordingFailed',
];

/** The channel an event is about (Dial: the dialed peer), if any. */
export function eventChannelId(ev: AriEvent): string | null {
  if (ev.type === 'Dial') return ev.peer.id;
  if ('channel' in ev && ev.channel) return ev.channel.id;
  return null;
}

// ---------- request parameters (names exactly as Asterisk takes them) ----------

export interface OriginateParams {
  endpoint: string;
  app: string;
  appArgs?: string;
  callerId?: string;
  /** Seconds to wait for an answer before Asterisk gives up with NOANSWER. */
  timeout?: number;
  channelId?: string;
  variables?: Record<string, string>;
}

export interface ContinueParams {
  context?: string;
  extension?: string;
  priority?: number;
  label?: string;
}

export interface SnoopParams {
  app: string;
  /** Audio the snoop channel hears: `in` is what the snooped channel sends (the callee's voice). */
  spy?: 'none' | 'both' | 'out' | 'in';
  whisper?: 'none' | 'both' | 'out' | 'in';
  appArgs?: string;
  snoopId?: string;
}

export interface ExternalMediaParams {
  app: string;
  channelId?: string;
  external_host?: string;
  encapsulation?: 'rtp' | 'audiosocket' | 'none';
  transport?: 'udp' | 'tcp' | 'websocket';
  connection_type?: 'client' | 'server';
  format: string;
  direction?: 'both' | 'in' | 'out';
  variables?: Record<string, string>;
}

export interface CreateBridgeParams {
  type?: string;
  bridgeId?: string;
  name?: string;
}

export interface RecordBridgeParams {
  name: string;
  format: string;
  maxDurationSeconds?: number;
  maxSilenceSeconds?: number;
  ifExists?: 'fail' | 'overwrite' | 'append';
  beep?: boolean;
  terminateOn?: 'none' | 'any' | '*' | '#';
}

export interface DtmfParams {
  before?: number;
  between?: number;
  duration?: number;
  after?: number;
}
