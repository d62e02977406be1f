/** Messages between a worker-hosted STT engine (pocketsphinx, vosk) and its decoder thread. */
export type WorkerRequest =
  | { t: 'open'; id: number }
  | { t: 'write'; id: number; pcm: ArrayBuffer }
  | { t: 'finish'; id: number; req: number }
  | { t: 'close'; id: number }
  | { t: 'shutdown' };

export type WorkerReply =
  /** `tid`: the decoder thread's OS thread id, where the OS has one to read (thread-id.ts). */
  | { t: 'ready'; tid?: number }
  | { t: 'init-error'; message: string }
  /** `ended`: the utterance was decoded to its end in a pause; the finish returns this text unless speech resumes. */
  | { t: 'partial'; id: number; text: string; ended?: boolean }
  | {
      t: 'final';
      id: number;
      req: number;
      text: string;
      /**
       * pocketsphinx, diagnostics: restarts of a cold utterance's decode before the finish, how often
       * it went on after being decoded to its end in a pause, whether it was decoded again after the
       * finish, and whether its text came from the pause.
       */
      restarts?: number;
      resumes?: number;
      secondPass?: boolean;
      endedInPause?: boolean;
      /** The utterance's audio and the decoder thread's time spent on it (ms): its real-time factor. */
      timing?: { audioMs: number; decodeMs: number };
    }
  | { t: 'error'; id: number; message: string }
  | { t: 'closed' };
