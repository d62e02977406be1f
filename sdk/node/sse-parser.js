// Server-Sent Events parser after the WHATWG "event stream interpretation" rules, fed with raw bytes in
// chunks of any size: a chunk may end inside a line, inside a CRLF pair or inside a UTF-8 sequence.

const LF = 10;
const CR = 13;

/**
 * Feed it the response body's chunks; each `feed` returns what those bytes completed:
 * `{ kind: 'event', event, data, id, lastEventId }` (`id` is the message's own `id:` field or null;
 * `lastEventId` is the stream's cursor after it, which carries over messages without one),
 * `{ kind: 'retry', ms }` and `{ kind: 'comment', text }`.
 */
export class SseParser {
  #decoder = new TextDecoder('utf-8');
  /** Decoded text after the last line end: a line still incomplete, never holding CR or LF. */
  #pending = '';
  /** The previous chunk ended in CR, so an LF opening the next one finishes that same line end. */
  #afterCr = false;
  #eventType = '';
  #dataLines = [];
  #messageId = null;
  lastEventId = '';

  /** @param {Uint8Array | string} chunk */
  feed(chunk) {
    const text = typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    return this.#consume(text);
  }

  /** The body has ended: a message without its closing blank line is dropped, as the standard says. */
  end() {
    this.#consume(this.#decoder.decode());
    this.#pending = '';
    this.#afterCr = false;
    this.#eventType = '';
    this.#dataLines = [];
    this.#messageId = null;
  }

  #consume(text) {
    const out = [];
    if (text.length === 0) return out;
    let start = 0;
    if (this.#afterCr && text.charCodeAt(0) === LF) start = 1;
    this.#afterCr = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      const line = this.#pending + text.slice(start, i);
      this.#pending = '';
      if (c === CR) {
        if (i + 1 === text.length) this.#afterCr = true;
        else if (text.charCodeAt(i + 1) === LF) i++;
      }
      start = i + 1;
      this.#line(line, out);
    }
    if (start < text.length) this.#pending += text.slice(start);
    return out;
  }

  #line(line, out) {
    if (line === '') return this.#dispatch(out);
    if (line.charCodeAt(0) === 58 /* : */) {
      out.push({ kind: 'comment', text: line.slice(1).replace(/^ /, '') });
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'event':
        this.#eventType = value;
        break;
      case 'data':
        this.#dataLines.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastEventId = value;
          this.#messageId = value;
        }
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) out.push({ kind: 'retry', ms: Number(value) });
        break;
      default:
    }
  }

  #dispatch(out) {
    const dataLines = this.#dataLines;
    const event = this.#eventType || 'message';
    const id = this.#messageId;
    this.#dataLines = [];
    this.#eventType = '';
    this.#messageId = null;
    // A message without data is not an event, though its id still moved the cursor.
    if (dataLines.length === 0) return;
    out.push({ kind: 'event', event, data: dataLines.join('\n'), id, lastEventId: this.lastEventId });
  }
}
