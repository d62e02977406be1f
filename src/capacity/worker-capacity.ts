import {
  type CapacityEstimate,
  type CapacityLimit,
  DEFAULT_REPLY_BUDGET_MS,
  estimateCapacity,
} from './capacity-model.js';
import type { EngineProfile } from './engine-profile.js';
import { type MachineLoad, watchMachineLoad } from './machine-load.js';

export interface CapacitySnapshot {
  capacity: number;
  liveCalls: number;
  full: boolean;
  limitedBy: CapacityLimit;
  estimate: CapacityEstimate | null;
  otherLoadCores: number;
  lateReplies: number;
}

export interface WorkerCapacity {
  /** Calls the worker may carry now (>= 1). */
  limit(liveCalls: number): number;
  snapshot(liveCalls: number): CapacitySnapshot;
  /** Told of each agent reply: ms from the callee's speech end to the agent's first voiced frame. */
  recordReply(ms: number, liveCalls: number): void;
  stop(): void;
}

export interface WorkerCapacityOptions {
  configured: number | 'auto';
  /** Pending → capacity 1, limitedBy 'measuring'. */
  profile: Promise<EngineProfile | null> | EngineProfile | null;
  /** Other work on the machine (default, with 'auto': watchMachineLoad(), stopped by stop()). */
  machine?: MachineLoad;
  /** ms; default Date.now. */
  clock?: () => number;
  /** A reply later than this counts as late (ms, default 1500: the p95 voice-to-voice goal). */
  replyBudgetMs?: number;
  /** Most calls 'auto' gives (default 64). */
  max?: number;
  /** How long late replies count, and a cap they caused holds (ms, default 120 000). */
  lateWindowMs?: number;
  /**
   * How far (ms) the recogniser runs behind the calls' audio (SpeechToText.backlogMs). Behind by
   * RECOGNITION_BACKLOG_MS for a second, the live calls are more audio than it decodes: every callee's
   * turn then ends late, and calls that end before any reply (a batch's short calls) show no late reply.
   */
  recognitionBacklogMs?: () => number;
}

/**
 * Without a profile (measuring failed, or there was nothing to measure) a worker cannot know what it
 * can carry. 2: on the slowest machines measured (issue 15: 2-core Xeon, a 1B model on the box) one
 * call meets the goal and four break, so two is a guess that loses little there, keeps a second
 * call from queueing behind the first everywhere else, and late replies lower it to 1 where it is
 * too many. Set WORKER_CONCURRENCY to a number where the guess does not fit.
 */
export const UNMEASURED_CAPACITY = 2;

/** Late replies among this many of the latest … */
const RECENT_REPLIES = 10;
/** … that show the worker carries too much. */
const LATE_REPLIES_TO_ACT = 2;
const DEFAULT_LATE_WINDOW_MS = 120_000;
/** A recogniser this far behind (ms) for RECOGNITION_BACKLOG_FOR_MS is not keeping up; jitter (a finish's second pass) stays under it. */
export const RECOGNITION_BACKLOG_MS = 750;
const RECOGNITION_BACKLOG_FOR_MS = 1000;

/**
 * The calls a worker may carry now. A configured number is taken as is. With 'auto': 1 while the
 * engines are being measured, then the capacity model's estimate for the cores that other work leaves
 * free (limitedBy 'load' when that work lowered it), lowered further while replies come late: two late
 * replies among the last ten within the window cap it below the number of live calls at which a reply
 * was late, until the window has passed since the last of them. Queueing a call for a few seconds beats
 * making every live call worse.
 */
export function createWorkerCapacity(opts: WorkerCapacityOptions): WorkerCapacity {
  const clock = opts.clock ?? Date.now;
  const budgetMs = opts.replyBudgetMs ?? DEFAULT_REPLY_BUDGET_MS;
  const max = Math.max(1, opts.max ?? 64);
  const windowMs = opts.lateWindowMs ?? DEFAULT_LATE_WINDOW_MS;
  const auto = opts.configured === 'auto';
  const ownMachine = auto && !opts.machine ? watchMachineLoad() : null;
  const machine = opts.machine ?? ownMachine;

  let stopped = false;
  let measuring = false;
  let profile: EngineProfile | null = null;
  let idleEstimate: CapacityEstimate | null = null;
  const settle = (p: EngineProfile | null) => {
    profile = p;
    idleEstimate = p ? estimateCapacity(p, { replyBudgetMs: budgetMs }) : null;
  };
  if (auto) {
    const given = opts.profile;
    if (given && typeof (given as Promise<unknown>).then === 'function') {
      measuring = true;
      (given as Promise<EngineProfile | null>).then(
        (p) => {
          if (stopped) return;
          measuring = false;
          settle(p);
        },
        () => {
          if (stopped) return;
          measuring = false;
          settle(null);
        },
      );
    } else {
      settle(given as EngineProfile | null);
    }
  }

  const replies: { at: number; late: boolean; liveCalls: number }[] = [];
  let capUntil = 0;
  let cap = Number.POSITIVE_INFINITY;
  let capReason: CapacityLimit = 'late_replies';
  /** Lowers the cap below `liveCalls` until the window has passed. */
  const capBelow = (liveCalls: number, reason: CapacityLimit, now: number) => {
    const next = Math.max(1, liveCalls - 1);
    if (now >= capUntil || next <= cap) capReason = reason;
    cap = now < capUntil ? Math.min(cap, next) : next;
    capUntil = now + windowMs;
  };
  let behindSince: number | null = null;
  const watchRecognition = (liveCalls: number) => {
    if (!auto || !opts.recognitionBacklogMs) return;
    const now = clock();
    if (opts.recognitionBacklogMs() < RECOGNITION_BACKLOG_MS) {
      behindSince = null;
      return;
    }
    behindSince ??= now;
    if (now - behindSince >= RECOGNITION_BACKLOG_FOR_MS) capBelow(liveCalls, 'recognition_backlog', now);
  };
  const recent = () => {
    const since = clock() - windowMs;
    while (replies.length > 0 && (replies.length > RECENT_REPLIES || replies[0].at <= since)) replies.shift();
    return replies;
  };
  const lateReplies = () => recent().filter((r) => r.late).length;

  const decide = (): {
    capacity: number;
    limitedBy: CapacityLimit;
    estimate: CapacityEstimate | null;
    otherLoadCores: number;
  } => {
    const otherLoadCores = machine?.otherCores() ?? 0;
    if (typeof opts.configured === 'number')
      return { capacity: opts.configured, limitedBy: 'configured', estimate: null, otherLoadCores };
    if (measuring) return { capacity: 1, limitedBy: 'measuring', estimate: null, otherLoadCores };
    let capacity: number;
    let limitedBy: CapacityLimit;
    let estimate: CapacityEstimate | null = null;
    if (!profile || !idleEstimate) {
      capacity = UNMEASURED_CAPACITY;
      limitedBy = 'measuring';
    } else {
      estimate =
        otherLoadCores > 0
          ? estimateCapacity(profile, { freeCores: profile.cores - otherLoadCores, replyBudgetMs: budgetMs })
          : idleEstimate;
      capacity = estimate.calls;
      limitedBy = estimate.calls < idleEstimate.calls ? 'load' : estimate.limitedBy;
    }
    if (capacity > max) {
      capacity = max;
      limitedBy = 'configured';
    }
    if (clock() < capUntil && cap < capacity) {
      capacity = cap;
      limitedBy = capReason;
    }
    return { capacity: Math.max(1, capacity), limitedBy, estimate, otherLoadCores };
  };

  return {
    limit(liveCalls) {
      watchRecognition(liveCalls);
      return decide().capacity;
    },
    snapshot(liveCalls) {
      watchRecognition(liveCalls);
      const d = decide();
      return {
        capacity: d.capacity,
        liveCalls,
        full: liveCalls >= d.capacity,
        limitedBy: d.limitedBy,
        estimate: d.estimate,
        otherLoadCores: d.otherLoadCores,
        lateReplies: lateReplies(),
      };
    },
    recordReply(ms, liveCalls) {
      const now = clock();
      const late = ms > budgetMs;
      replies.push({ at: now, late, liveCalls });
      if (!late) return;
      const lates = recent().filter((r) => r.late);
      if (lates.length < LATE_REPLIES_TO_ACT) return;
      // The fewest calls at which replies came late is already too many.
      capBelow(Math.min(...lates.map((r) => r.liveCalls)), 'late_replies', now);
    },
    stop() {
      stopped = true;
      ownMachine?.stop();
    },
  };
}
