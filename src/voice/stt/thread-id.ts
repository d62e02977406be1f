import fs from 'node:fs';

/**
 * The OS thread id of the calling thread (Linux: /proc/thread-self is a link to "PID/task/TID"), or
 * undefined elsewhere. A decoder worker reports it so that a profiler can read that thread's CPU time
 * in /proc/self/task/TID/stat (the voice bench's CPU by stage); Node names every thread "node".
 */
export function osThreadId(): number | undefined {
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').at(-1));
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}
