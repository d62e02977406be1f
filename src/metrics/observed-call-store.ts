import { CallStore, type NewTurn } from '../calls/call-store.js';
import type { Db } from '../db/client.js';
import type { Metrics } from './metrics.js';

/**
 * The call store with the voice metrics' observation point: a turn is counted (its latency stages,
 * a barge-in) once it is stored, so the histograms agree with the turns a reader finds in the database.
 */
export class ObservedCallStore extends CallStore {
  constructor(
    db: Db,
    publicBaseUrl: string,
    private readonly metrics: Metrics,
  ) {
    super(db, publicBaseUrl);
  }

  /**
   * Told of each stored agent reply that answered the callee: milliseconds from the callee's speech
   * end to the agent's first voiced frame, the delay the callee hears (the worker's capacity watches it).
   */
  onReply?: (ms: number) => void;

  override async addTurn(callId: string, turn: NewTurn): Promise<void> {
    await super.addTurn(callId, turn);
    this.metrics.turnStored(turn);
    const l = turn.latency;
    if (turn.speaker !== 'agent' || !this.onReply || !l) return;
    if (l.calleeSpeechEndMs === null || l.firstVoicedFrameMs === null) return;
    this.onReply(Math.max(0, l.firstVoicedFrameMs - l.calleeSpeechEndMs));
  }
}
