/**
 * Voice benchmark: simulated calls through the whole real pipeline (simulated PBX, ARI, media, VAD,
 * pocketsphinx, flite, node-llama-cpp on random-weight GGUFs in real model shapes), with per-turn
 * voice-to-voice latency on the wire, its breakdown by stage, CPU per call and a concurrency sweep;
 * beside it each engine's own speed on the same inputs. `npm run bench:voice -- --help` for flags.
 */
import os from 'node:os';
import { estimateCapacity } from '../src/capacity/capacity-model.js';
import type { EngineProfile } from '../src/capacity/engine-profile.js';
import { createLogger, silentLogger } from '../src/logger.js';
import { FIXED_INSTRUCTIONS } from '../src/voice/agent/prompt.js';
import { createLlamaCppDialogue } from '../src/voice/dialogue/llama-cpp.js';
import { decoderThreadIds } from '../src/voice/stt/worker-stt.js';
import { createSileroVad } from '../src/voice/vad/silero.js';
import { loadVoiceEngines, startE2eStack } from '../test/e2e/helpers/e2e-stack.js';
import { parseArgs } from './lib/args.js';
import { BENCH_CALLEE, benchCalleeScenario, runStep, type StepResult } from './lib/call-sweep.js';
import { capReplies } from './lib/capped-dialogue.js';
import {
  measureLlm,
  measureLlmBatching,
  measureReplyBesideReadAhead,
  measureStt,
  measureTts,
  measureVad,
} from './lib/engine-floor.js';
import { ensureModel } from './lib/models.js';
import {
  markStandin,
  openRemoteDialogue,
  printStandinTable,
  type StandinMark,
} from './lib/remote-dialogue.js';
import { calibrateStageCpu, countTtsAudio, stageCpuTable, startStageCpu } from './lib/stage-cpu.js';
import { mean, percentile, table } from './lib/stats.js';

const GOAL = { shape: 'llama3.2-1b', p50: 700, p95: 1200 };

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // With --llm-url the calls' dialogue is elsewhere: no model shape is generated, measured or called.
  if (args.llmUrl) args.shapes = [];
  const started = performance.now();
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  console.log(`voice bench on ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, load average ${load}`);
  const remote = args.llmUrl
    ? await openRemoteDialogue(args, process.env.E2E_LOG ? createLogger(process.env.E2E_LOG) : silentLogger())
    : null;
  console.log(
    `${remote ? remote.describe : `shapes ${args.shapes.join(', ')}`}; concurrency ${args.concurrency.join(', ')}; ${args.turns} callee replies a call${args.staggerMs ? `, calls placed ${args.staggerMs} ms apart` : ', calls placed at once'}; ${args.transport}${remote ? '' : `; llama.cpp threads ${args.threads}, ${args.turnThreads} while replying`}\n`,
  );

  const models = new Map<string, { file: string; bytes: number; quant: string }>();
  for (const shape of args.shapes) models.set(shape, await ensureModel(args.dataDir, shape));

  const engines = await loadVoiceEngines().catch(async (err) => {
    await remote?.close();
    throw err;
  });
  try {
    if (!args.skipEngines) {
      const tts = await measureTts(engines.agentTts);
      const stt = await measureStt(engines.agentStt, tts.audio);
      const vad = await createSileroVad();
      const vadRtf = await measureVad(vad, tts.audio).finally(() => vad.close());
      console.log('Engine floor (same callee sentences, one stream, RTF = compute time / audio time)');
      console.log(
        table(
          ['engine', 'audio s', 'compute s', 'RTF'],
          [
            ['TTS flite (slt)', tts.result.audioSeconds, tts.result.wallSeconds, tts.result.rtf],
            ['STT pocketsphinx', stt.result.audioSeconds, stt.result.wallSeconds, stt.result.rtf],
            ['VAD silero v5', vadRtf.audioSeconds, vadRtf.wallSeconds, vadRtf.rtf],
          ].map(([a, b, c, d]) => [
            a,
            (b as number).toFixed(2),
            (c as number).toFixed(3),
            (d as number).toFixed(3),
          ]),
        ),
      );
      console.log(`STT read the first sentence as: "${stt.texts[0]}"\n`);
      // What WORKER_CONCURRENCY=auto would carry on this machine with these floors (src/capacity).
      const autoCapacity = (llm: EngineProfile['llm']) => {
        const e = estimateCapacity({
          cores: os.availableParallelism(),
          cpuModel: os.cpus()[0]?.model ?? 'cpu',
          vadRtf: vadRtf.rtf,
          sttRtf: stt.result.rtf,
          ttsRtf: tts.result.rtf,
          llm,
          measuredAt: new Date().toISOString(),
          ms: 0,
        });
        return `${e.calls} (limited by ${e.limitedBy})`;
      };
      if (remote)
        console.log(`WORKER_CONCURRENCY=auto with these floors and ${args.llmUrl}: ${autoCapacity(null)}\n`);
      const rows: (string | number)[][] = [];
      for (const shape of args.shapes) {
        const m = models.get(shape)!;
        const s = await measureLlm(m.file, { genTokens: 32, threads: args.threads });
        console.log(
          `WORKER_CONCURRENCY=auto with these floors and ${shape} on this machine: ${autoCapacity({ genTokensPerSecond: s.genTokPerS, promptTokensPerSecond: s.promptTokPerS, threads: args.threads })}`,
        );
        rows.push([
          `${shape} (${m.quant}, ${(m.bytes / 2 ** 20).toFixed(0)} MiB)`,
          s.promptTokens,
          s.promptTokPerS,
          s.genTokPerS,
          s.firstTokenMs,
        ]);
      }
      if (rows.length) {
        console.log('LLM floor (node-llama-cpp, CPU, one sequence)');
        console.log(
          table(['model', 'prompt tok', 'prompt tok/s', 'gen tok/s', 'prompt+1st tok ms'], rows, 1),
        );
        console.log('');
        // Several calls on one context: whether their steps share llama.cpp batches, and what a
        // read-ahead beside a reply costs it (why read-ahead yields to replies, llama-cpp.ts).
        const batching: (string | number)[][] = [];
        const beside: (string | number)[][] = [];
        for (const shape of args.shapes) {
          const file = models.get(shape)!.file;
          for (const r of await measureLlmBatching(file, {
            sequences: [1, 2, 4],
            genTokens: 24,
            threads: args.threads,
          })) {
            batching.push([
              shape,
              String(r.sequences),
              r.promptTokPerS,
              r.promptTokPerSPerSequence,
              r.genTokPerS,
              r.genTokPerSPerSequence,
              r.decodesPerStep,
            ]);
          }
          for (const r of await measureReplyBesideReadAhead(file, {
            chunks: [0, 1, 4, 16],
            genTokens: 24,
            threads: args.threads,
          })) {
            beside.push([shape, String(r.readAheadChunk), r.replyTokPerS, r.readAheadTokPerS]);
          }
        }
        console.log('LLM batching: n sequences at once (each its own prompt, then generating together)');
        console.log(
          table(
            ['model', 'n', 'prompt tok/s', 'per seq', 'gen tok/s', 'per seq', 'decodes per step'],
            batching,
            1,
          ),
        );
        console.log("\nLLM: a reply beside another sequence's read-ahead (read in chunks of n tokens)");
        console.log(table(['model', 'chunk', 'reply gen tok/s', 'read-ahead tok/s'], beside, 1));
        console.log('');
      }
    }

    if (!args.skipCalls) {
      // Before the stack starts, so that nothing but the engines runs while their unit costs are measured.
      const cpuCalibration = await calibrateStageCpu({
        tts: engines.agentTts,
        createVad: () => createSileroVad(),
      });
      const ttsCounted = countTtsAudio(engines);
      const sttBacklog = engines.agentStt.backlogMs?.bind(engines.agentStt);
      const stageCpu = () =>
        startStageCpu({
          calibration: cpuCalibration,
          agentSttTids: decoderThreadIds(engines.agentStt),
          calleeSttTids: decoderThreadIds(engines.calleeStt),
          ttsCounts: ttsCounted.counts,
        });
      const stack = await startE2eStack({
        engines: ttsCounted.engines,
        transport: args.transport,
        scenarios: [benchCalleeScenario(args.turns)],
        concurrency: Math.max(...args.concurrency),
        env: { CAP_CALLS_PER_DAY: '100000' },
      });
      const results: { shape: string; step: StepResult }[] = [];
      const standinRows: { step: StepResult; before: StandinMark; after: StandinMark }[] = [];
      try {
        if (remote) {
          for (const c of args.concurrency) {
            process.stdout.write(`${remote.label}: ${c} concurrent call(s) to ${BENCH_CALLEE} ... `);
            const before = remote.standin ? markStandin(remote.standin) : null;
            const step = await runStep(
              stack,
              remote.dialogue,
              c,
              args.turns,
              { endSilenceMs: args.endSilenceMs },
              stageCpu,
              args.staggerMs,
              sttBacklog,
            );
            console.log(
              `${step.wallSeconds.toFixed(1)} s, ${step.turns.length} turns, ${JSON.stringify(step.endings)}`,
            );
            results.push({ shape: remote.label, step });
            if (remote.standin && before)
              standinRows.push({ step, before, after: markStandin(remote.standin) });
          }
        }
        for (const shape of args.shapes) {
          const engine = await createLlamaCppDialogue({
            modelPath: models.get(shape)!.file,
            // E2E_LOG=debug shows the engine's own log too (prompt reuse, warm-up).
            logger: process.env.E2E_LOG ? createLogger(process.env.E2E_LOG) : silentLogger(),
            sequences: Math.max(...args.concurrency),
            contextSize: 4096,
            maxTokens: 256,
            threads: args.threads,
            turnThreads: args.turnThreads,
            // Random weights would pick `end` or `dtmf` as often as `speak`, ending calls before any turn is measured.
            actions: ['speak'],
          });
          // As the server does at start (engines.ts): calls then find the fixed instructions evaluated.
          const warmStart = performance.now();
          await engine.warmUp?.([{ role: 'system', content: FIXED_INSTRUCTIONS }]);
          console.log(
            `${shape}: fixed instructions evaluated into ${Math.max(...args.concurrency)} sequences in ${((performance.now() - warmStart) / 1000).toFixed(1)} s`,
          );
          const dialogue = capReplies(engine, { maxWords: args.maxWords, summaryMs: 2000 });
          try {
            for (const c of args.concurrency) {
              process.stdout.write(`${shape}: ${c} concurrent call(s) to ${BENCH_CALLEE} ... `);
              const step = await runStep(
                stack,
                dialogue,
                c,
                args.turns,
                { endSilenceMs: args.endSilenceMs },
                stageCpu,
                args.staggerMs,
                sttBacklog,
              );
              console.log(
                `${step.wallSeconds.toFixed(1)} s, ${step.turns.length} turns, ${JSON.stringify(step.endings)}`,
              );
              results.push({ shape, step });
            }
          } finally {
            await dialogue.close();
          }
        }
      } finally {
        await stack.close();
      }
      printCallTables(results, args.endSilenceMs);
      console.log(
        "\nCPU seconds per call-minute by stage (the step's CPU, ringing and summaries included, over the calls' answered minutes; core per call = CPU s / call-min / 60)",
      );
      console.log(stageCpuTable(results));
      if (standinRows.length) printStandinTable(standinRows);
    }
  } finally {
    await engines.close();
    await remote?.close();
  }
  console.log(`\ntotal bench time ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

function printCallTables(results: { shape: string; step: StepResult }[], endSilenceMs: number): void {
  console.log(
    '\nVoice-to-voice per turn (callee last voiced frame -> agent first voiced frame, on the wire), ms',
  );
  const pct = (xs: number[], p: number) => (xs.length ? percentile(xs, p).toFixed(0) : '-');
  console.log(
    table(
      [
        'model',
        'calls',
        'turns',
        'p50',
        'p95',
        'mean',
        '1st reply p50',
        'later p50',
        'after question or bye p50',
        'after statement p50',
        'cut short',
        'CPU s/call',
        'STT behind p95/max ms',
        'wall s',
      ],
      results.map(({ shape, step }) => {
        const w = step.wireMs;
        return [
          shape,
          step.concurrency,
          w.length,
          percentile(w, 50),
          percentile(w, 95),
          mean(w),
          pct(step.wireFirstMs, 50),
          pct(step.wireLaterMs, 50),
          pct(step.wireByEnding.handover, 50),
          pct(step.wireByEnding.statement, 50),
          `${step.interruptedAgentTurns} / ${step.agentTurns}`,
          step.cpuSecondsPerCall.toFixed(1),
          step.sttBacklogMs
            ? `${step.sttBacklogMs.p95.toFixed(0)} / ${step.sttBacklogMs.max.toFixed(0)}`
            : '-',
          step.wallSeconds.toFixed(0),
        ];
      }),
    ),
  );
  console.log(
    `\nWhere the time goes: agent stamps in ms after the callee's speech end (VAD), p50 / p95. The turn ends after ${endSilenceMs} ms of silence after a statement, less after a question or goodbye and more after "and", "the", "um" (the agent's handover and unfinished silences, turn-end.ts); an early reply is generated once the recogniser has the final text in the pause, and held until the turn ends.`,
  );
  const pp = (xs: number[]) => `${percentile(xs, 50).toFixed(0)} / ${percentile(xs, 95).toFixed(0)}`;
  console.log(
    table(
      ['model', 'calls', 'STT final', '1st token', '1st TTS audio', '1st voiced frame', 'early replies'],
      results.map(({ shape, step }) => {
        const col = (k: 'sttFinal' | 'firstToken' | 'firstTts' | 'firstVoiced') =>
          step.turns.map((t) => t[k]);
        return [
          shape,
          step.concurrency,
          pp(col('sttFinal')),
          pp(col('firstToken')),
          pp(col('firstTts')),
          pp(col('firstVoiced')),
          `${step.turns.filter((t) => t.early).length} / ${step.turns.length}`,
        ];
      }),
    ),
  );
  const goal = results.find((r) => r.shape === GOAL.shape && r.step.concurrency === 1);
  if (goal) {
    const w = goal.step.wireMs;
    const p50 = percentile(w, 50);
    const p95 = percentile(w, 95);
    const ok = p50 <= GOAL.p50 && p95 <= GOAL.p95;
    console.log(
      `\nGoal (${GOAL.shape}, 1 call): p50 <= ${GOAL.p50} ms, p95 <= ${GOAL.p95} ms -> measured p50 ${p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms: ${ok ? 'MET' : 'NOT MET'}`,
    );
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
