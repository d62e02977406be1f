/** Messages between a worker-hosted STT engine (pocketsphinx, vosk) and its decoder thread. */
export type WorkerRequest =
  | { t: 'open'; id: number }
  | { t: 'write'; id: number; pcm: ArrayBuffer }
  | { t: 'finish'; id: number; req: number }
  | { t: 'close'; id: number }
  | { t: 'shutdown' };

export type WorkerReply =
  | { t: 'ready' }
  | { t: 'init-error'; message: string }
  | { t: 'partial'; id: number; text: string }
  | { t: 'final'; id: number; req: number; text: string }
  | { t: 'error'; id: number; message: string }
  | { t: 'closed' };
