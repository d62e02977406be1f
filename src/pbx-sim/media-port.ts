/**
 * A channel's audio as the simulator's mixer sees it: 20 ms frames of 16 kHz 16-bit mono PCM.
 * Each clock tick the mixer pulls what every channel contributes, then pushes to each bridged
 * channel what it should hear.
 */
export interface MediaPort {
  /** This tick's frame from the channel, or null when it sends nothing (no frame, not silence). */
  pull(): Int16Array | null;
  /** A frame the channel hears. Not called on ticks where the far side sent nothing. */
  push(frame: Int16Array): void;
  close(): void;
}
