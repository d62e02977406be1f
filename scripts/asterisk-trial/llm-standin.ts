// The dialogue stand-in for trials on a real Asterisk where no language model runs (scripts/lib/llm-standin.ts).
//
// Usage: npx tsx scripts/asterisk-trial/llm-standin.ts [--port 8091] [--turns 3] [--transfer-at 2]
//   --turns N        the Nth agent action ends the call (the first N-1 speak)
//   --transfer-at N  when the schema has a transfer action, the Nth agent action is a transfer instead
import { startLlmStandin } from '../lib/llm-standin.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};

const standin = await startLlmStandin({
  port: Number(arg('port', '8091')),
  turns: Number(arg('turns', '3')),
  transferAt: Number(arg('transfer-at', '2')),
  onAnswer: (name, text) => console.log(`${new Date().toISOString()} ${name} -> ${text}`),
});
console.log(`llm stand-in on ${standin.url}`);
const stop = () => void standin.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
