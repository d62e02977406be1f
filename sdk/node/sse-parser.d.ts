export type SseItem =
  | { kind: 'event'; event: string; data: string; id: string | null; lastEventId: string }
  | { kind: 'retry'; ms: number }
  | { kind: 'comment'; text: string };

/** Server-Sent Events parser (WHATWG rules) for a byte stream cut into chunks anywhere. */
export class SseParser {
  /** The stream's cursor: the last `id:` seen, carried over messages without one. */
  lastEventId: string;
  feed(chunk: Uint8Array | string): SseItem[];
  end(): void;
}
