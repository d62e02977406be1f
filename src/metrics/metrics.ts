import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { TurnLatency } from '../db/schema.js';

/**
 * The voice pipeline's stages: the histogram of each (`agentline_voice_<stage>_seconds`) and the
 * turn-latency field it comes from. One histogram a stage, not a `stage` label: a process runs one
 * pipeline, and unlabelled histograms read the same in every exposition parser.
 */
export const LATENCY_STAGES = {
  stt_final: 'sttFinalMs',
  first_token: 'firstTokenMs',
  first_tts_audio: 'firstTtsAudioMs',
  first_voiced_frame: 'firstVoicedFrameMs',
} as const satisfies Record<string, keyof TurnLatency>;
export type LatencyStage = keyof typeof LATENCY_STAGES;

/** What a delivery attempt came to: `failed` will be retried, `dead` will not. */
export type WebhookAttemptResult = 'delivered' | 'failed' | 'dead';

export type EngineKind = 'stt' | 'tts' | 'dialogue';

/** What the capacity gauges read from the worker (src/capacity's CapacitySnapshot fits it). */
export interface WorkerCapacityReading {
  capacity: number;
  full: boolean;
  limitedBy: string;
}

export interface StoredTurn {
  speaker: 'agent' | 'callee';
  interrupted?: boolean;
  latency?: TurnLatency | null;
}

/**
 * One process's metrics: its own prom-client registry (never the global one, so several servers in
 * one process, as in the tests, count apart) and the observation points the call path reports to.
 * Values that live in the database are added by `registerDatabaseGauges`, read at scrape time.
 */
export interface Metrics {
  readonly registry: Registry;
  /** A turn was stored: its latency stages and, for an interrupted agent turn, a barge-in. */
  turnStored(turn: StoredTurn): void;
  webhookAttempt(result: WebhookAttemptResult): void;
  /** Names the engine of a kind this process runs (exported as `agentline_engine_info`). */
  engineInUse(kind: EngineKind, engine: string): void;
  /** Processing time over audio time of one piece of work (an utterance decoded, a clause synthesized). */
  realTimeFactor(kind: 'stt' | 'tts', factor: number): void;
  /** Seconds the dialogue model took for one whole reply. */
  dialogueReply(seconds: number): void;
  /** Exports whether this process's ARI connection is up, read at each scrape. */
  watchPbx(connected: () => boolean): void;
  /** Exports the calls this process's worker carries now, read at each scrape. */
  watchWorker(activeCalls: () => number): void;
  /** Exports how far (ms) the recogniser runs behind the calls' audio, read at each scrape. */
  watchRecognitionBacklog(backlogMs: () => number): void;
  /** Exports how many calls this process's worker may carry now, whether it is full, and why, read at each scrape. */
  watchCapacity(snapshot: () => WorkerCapacityReading): void;
  /** The exposition text and its content type. */
  render(): Promise<{ body: string; contentType: string }>;
}

export interface MetricsOptions {
  /** prom-client's process metrics (CPU, memory, event-loop lag, GC); on by default. */
  processMetrics?: boolean;
}

/** Seconds, from 50 ms to 10 s: the span of a voice stage from "instant" to "the caller hung up". */
const LATENCY_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10];
/** Real-time factors: below 1 keeps up with speech; around 1 and above falls behind. */
const RTF_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5];
const REPLY_BUCKETS = [0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60];

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const STAGE_HELP: Record<LatencyStage, string> = {
    stt_final: "the recogniser's final text",
    first_token: "the dialogue model's first token",
    first_tts_audio: 'the first synthesized audio',
    first_voiced_frame: 'the first voiced frame sent to the callee',
  };
  const latency = Object.fromEntries(
    (Object.keys(LATENCY_STAGES) as LatencyStage[]).map((stage) => [
      stage,
      new Histogram({
        name: `agentline_voice_${stage}_seconds`,
        help: `Seconds from the end of the callee's speech to ${STAGE_HELP[stage]}, per stored turn`,
        buckets: LATENCY_BUCKETS,
        registers,
      }),
    ]),
  ) as Record<LatencyStage, Histogram>;
  const bargeIns = new Counter({
    name: 'agentline_barge_ins_total',
    help: 'Agent turns cut short because the callee spoke over them',
    registers,
  });
  const turns = new Counter({
    name: 'agentline_turns_total',
    help: 'Turns stored by this process, by speaker',
    labelNames: ['speaker'],
    registers,
  });
  const webhookAttempts = new Counter({
    name: 'agentline_webhook_attempts_total',
    help: 'Webhook delivery attempts by this process, by result (failed: retried later; dead: given up)',
    labelNames: ['result'],
    registers,
  });
  const rtf = {
    stt: new Histogram({
      name: 'agentline_stt_real_time_factor',
      help: "Speech recognition: the decoder's busy time over the audio of each utterance (below 1 keeps up)",
      buckets: RTF_BUCKETS,
      registers,
    }),
    tts: new Histogram({
      name: 'agentline_tts_real_time_factor',
      help: 'Speech synthesis: the time of each synthesis over the audio it made (below 1 keeps up)',
      buckets: RTF_BUCKETS,
      registers,
    }),
  };
  const reply = new Histogram({
    name: 'agentline_dialogue_reply_seconds',
    help: "Seconds the dialogue model took for one whole reply (the agent's next action); its output is text, so this stands for its real-time factor",
    buckets: REPLY_BUCKETS,
    registers,
  });
  const engineInfo = new Gauge({
    name: 'agentline_engine_info',
    help: 'The engines this process runs on its calls (value 1), by kind',
    labelNames: ['kind', 'engine'],
    registers,
  });
  // Labels known up front start at 0, so rate() and the dashboard see the series before the first event.
  for (const result of ['delivered', 'failed', 'dead'] satisfies WebhookAttemptResult[])
    webhookAttempts.inc({ result }, 0);
  for (const speaker of ['agent', 'callee']) turns.inc({ speaker }, 0);

  return {
    registry,
    turnStored(turn) {
      turns.inc({ speaker: turn.speaker });
      if (turn.speaker === 'agent' && turn.interrupted) bargeIns.inc();
      const l = turn.latency;
      if (!l || l.calleeSpeechEndMs === null) return;
      for (const [stage, field] of Object.entries(LATENCY_STAGES) as [LatencyStage, keyof TurnLatency][]) {
        const at = l[field];
        // A stage stamped before the speech end (a partial that was already final) took no time.
        if (at !== null) latency[stage].observe(Math.max(0, at - l.calleeSpeechEndMs) / 1000);
      }
    },
    webhookAttempt(result) {
      webhookAttempts.inc({ result });
    },
    engineInUse(kind, engine) {
      engineInfo.set({ kind, engine }, 1);
    },
    realTimeFactor(kind, factor) {
      if (Number.isFinite(factor) && factor >= 0) rtf[kind].observe(factor);
    },
    dialogueReply(seconds) {
      reply.observe(seconds);
    },
    watchPbx(connected) {
      new Gauge({
        name: 'agentline_pbx_connected',
        help: "1 while this worker's ARI connection to the PBX is up, else 0",
        registers,
        collect() {
          this.set(connected() ? 1 : 0);
        },
      });
    },
    watchWorker(activeCalls) {
      new Gauge({
        name: 'agentline_worker_active_calls',
        help: "Calls this process's worker carries now",
        registers,
        collect() {
          this.set(activeCalls());
        },
      });
    },
    watchRecognitionBacklog(backlogMs) {
      new Gauge({
        name: 'agentline_stt_backlog_seconds',
        help: "How long the oldest call audio not yet taken by this worker's recogniser has waited: 0 while it keeps up",
        registers,
        collect() {
          this.set(backlogMs() / 1000);
        },
      });
    },
    watchCapacity(snapshot) {
      new Gauge({
        name: 'agentline_worker_capacity_calls',
        help: "Calls this process's worker may carry now at the voice quality it aims for",
        registers,
        collect() {
          this.set(snapshot().capacity);
        },
      });
      new Gauge({
        name: 'agentline_worker_full',
        help: "1 while this process's worker carries as many calls as it may (it claims no more), else 0",
        registers,
        collect() {
          this.set(snapshot().full ? 1 : 0);
        },
      });
      new Gauge({
        name: 'agentline_worker_limited_by',
        help: "1 for what bounds this process's worker capacity now (configured, cpu, dialogue, load, late_replies, recognition_backlog, measuring)",
        labelNames: ['reason'],
        registers,
        collect() {
          this.reset();
          this.set({ reason: snapshot().limitedBy }, 1);
        },
      });
    },
    async render() {
      return { body: await registry.metrics(), contentType: registry.contentType };
    },
  };
}

/** The stages a turn's latency holds, each relative to the callee's speech end (for tests and readers). */
export function latencyStagesOf(latency: TurnLatency | null | undefined): LatencyStage[] {
  if (!latency || latency.calleeSpeechEndMs === null) return [];
  return (Object.keys(LATENCY_STAGES) as LatencyStage[]).filter(
    (stage) => latency[LATENCY_STAGES[stage]] !== null,
  );
}
