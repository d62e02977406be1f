import os from 'node:os';
import { isSyntheticShape, type SyntheticShapeName } from '../../src/voice/models/synthetic-gguf.js';

export interface VoiceBenchArgs {
  shapes: SyntheticShapeName[];
  concurrency: number[];
  /** Callee replies per call (each answered by one agent turn). */
  turns: number;
  transport: 'websocket' | 'rtp';
  /** Skip the per-engine floor measurements. */
  skipEngines: boolean;
  /** Skip the simulated calls. */
  skipCalls: boolean;
  dataDir: string;
  /** Words of an agent reply before the bench cuts it (random weights never end one). */
  maxWords: number;
  threads: number;
  /** llama.cpp CPU threads while a reply is generated. */
  turnThreads: number;
  /** The agent's end-of-turn silence (ConversationAgentOptions.endSilenceMs). */
  endSilenceMs: number;
  /** Call i of a step is placed i × this many ms after the first (0: all at once, the worst case for bursts). */
  staggerMs: number;
  /**
   * The calls' dialogue on an OpenAI-compatible server (LLM_URL) instead of the shapes: its base URL, or
   * 'standin' for the streaming stand-in in this process (scripts/lib/llm-standin.ts). null: the shapes.
   */
  llmUrl: string | null;
  /** The stand-in's time to first token, ms. */
  standinTtftMs: number;
  /** The stand-in's tokens per second after the first. */
  standinRate: number;
}

export const USAGE = `npm run bench:voice -- [options]
  --shapes a,b         synthetic GGUF shapes (default smollm2-360m,llama3.2-1b; also: tiny)
  --concurrency 1,2,4,8  concurrent calls per sweep step (default 1,2,4,8)
  --turns N            callee replies per call (default 3)
  --transport T        websocket (slin16, default) or rtp (ulaw)
  --max-words N        agent reply length in words before it is cut (default 12; shapes only)
  --threads N          llama.cpp CPU threads for read-ahead (default: cores - 1, as the server)
  --turn-threads N     llama.cpp CPU threads while a reply is generated (default: all cores, as the server)
  --end-silence MS     the agent's end-of-turn silence (default 650, as the server)
  --stagger MS         place a step's calls MS apart (default 0: all at once, so every callee speaks at the
                       same moments, the worst case for bursts; real traffic is spread)
  --llm-url URL|standin  the calls' dialogue on an OpenAI-compatible server (as LLM_URL), or on a streaming
                       stand-in started in this process: the CPU side's own capacity. --shapes is then
                       unused (no LLM floor; the engine floor still runs)
  --standin-ttft MS    the stand-in's time to first token (default 150)
  --standin-rate N     the stand-in's tokens per second (default 80)
  --data-dir DIR       where the GGUFs are generated once (default data/bench)
  --skip-engines       skip the engine floor table
  --skip-calls         skip the call sweep`;

/** Parses `process.argv`-style flags; a bad flag throws with the usage text. */
export function parseArgs(argv: readonly string[]): VoiceBenchArgs {
  const out: VoiceBenchArgs = {
    shapes: ['smollm2-360m', 'llama3.2-1b'],
    concurrency: [1, 2, 4, 8],
    turns: 3,
    transport: 'websocket',
    skipEngines: false,
    skipCalls: false,
    dataDir: 'data/bench',
    maxWords: 12,
    // The server's default (LLM_THREADS): one core is left to STT, VAD, TTS and media. With every core,
    // llama.cpp's spinning threads starve the STT worker: on 2 cores the STT final then came 5.8 s after
    // the callee stopped (p50, against 3.1 s with one thread).
    threads: Math.max(1, os.availableParallelism() - 1),
    // A reply is generated while the callee is silent and the recogniser idle (LLM_TURN_THREADS).
    turnThreads: os.availableParallelism(),
    endSilenceMs: 650,
    staggerMs: 0,
    llmUrl: null,
    standinTtftMs: 150,
    standinRate: 80,
  };
  const bad = (msg: string): never => {
    throw new Error(`${msg}\n\n${USAGE}`);
  };
  const int = (v: string | undefined, name: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      bad(`${name} must be an integer from ${min} to ${max}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i] ?? bad(`${a} needs a value`);
    switch (a) {
      case '--shapes':
        out.shapes = next()
          .split(',')
          .map((s) => s.trim())
          .map((s) => (isSyntheticShape(s) ? s : bad(`unknown shape ${s}`)));
        break;
      case '--concurrency':
        out.concurrency = next()
          .split(',')
          .map((s) => int(s, '--concurrency', 1, 64));
        break;
      case '--turns':
        out.turns = int(next(), '--turns', 1, 20);
        break;
      case '--transport': {
        const t = next();
        out.transport =
          t === 'rtp' || t === 'websocket' ? t : bad(`--transport must be websocket or rtp, got ${t}`);
        break;
      }
      case '--max-words':
        out.maxWords = int(next(), '--max-words', 1, 100);
        break;
      case '--threads':
        out.threads = int(next(), '--threads', 1, 256);
        break;
      case '--turn-threads':
        out.turnThreads = int(next(), '--turn-threads', 1, 256);
        break;
      case '--stagger':
        out.staggerMs = int(next(), '--stagger', 0, 60_000);
        break;
      case '--end-silence':
        out.endSilenceMs = int(next(), '--end-silence', 100, 5000);
        break;
      case '--llm-url': {
        const u = next();
        if (u !== 'standin' && !/^https?:\/\/[^/]/.test(u))
          bad(`--llm-url must be a URL or standin, got ${u}`);
        out.llmUrl = u;
        break;
      }
      case '--standin-ttft':
        out.standinTtftMs = int(next(), '--standin-ttft', 0, 60_000);
        break;
      case '--standin-rate':
        out.standinRate = int(next(), '--standin-rate', 1, 100_000);
        break;
      case '--data-dir':
        out.dataDir = next();
        break;
      case '--skip-engines':
        out.skipEngines = true;
        break;
      case '--skip-calls':
        out.skipCalls = true;
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        bad(`unknown option ${a}`);
    }
  }
  return out;
}
