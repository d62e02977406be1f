/**
 * Incremental reader of a JSON object as it is generated, token by token: it returns the newly
 * decoded characters of the top-level `"say"` string value, so speech can start on the first
 * clause. Escapes (including \uXXXX and surrogate pairs split across chunks) are decoded; other
 * keys and nested values are skipped.
 */
export class SayExtractor {
  private depth = 0;
  private inString = false;
  private escape = false;
  private hex: string | null = null;
  private pendingHigh: number | null = null;
  private role: 'key' | 'say' | 'value' | 'other' = 'other';
  private value = '';
  private readonly values: Record<string, string> = {};
  private key = '';
  private lastKey = '';
  private expectKey = false;
  private afterColon = false;
  private said = '';
  private finished = false;

  /** The whole `say` text so far. */
  get text(): string {
    return this.said;
  }

  /** The other top-level string values completed so far (e.g. `action`, `digits`). */
  get fields(): Readonly<Record<string, string>> {
    return this.values;
  }

  /** True once the `say` string has closed. */
  get done(): boolean {
    return this.finished;
  }

  /** Feeds the next chunk of generated JSON; returns the `say` characters it completed ('' if none). */
  push(chunk: string): string {
    let out = '';
    for (const ch of chunk) {
      if (this.inString) {
        out += this.stringChar(ch);
        continue;
      }
      switch (ch) {
        case '"':
          this.inString = true;
          if (this.depth === 1 && this.expectKey) {
            this.role = 'key';
            this.key = '';
          } else if (this.depth === 1 && this.afterColon && this.lastKey === 'say' && !this.finished) {
            this.role = 'say';
          } else if (this.depth === 1 && this.afterColon) {
            this.role = 'value';
            this.value = '';
          } else {
            this.role = 'other';
          }
          break;
        case '{':
        case '[':
          this.depth++;
          if (this.depth === 1) this.expectKey = ch === '{';
          break;
        case '}':
        case ']':
          this.depth--;
          break;
        case ':':
          if (this.depth === 1) {
            this.afterColon = true;
            this.expectKey = false;
          }
          break;
        case ',':
          if (this.depth === 1) {
            this.afterColon = false;
            this.expectKey = true;
          }
          break;
      }
    }
    this.said += out;
    return out;
  }

  private stringChar(ch: string): string {
    if (this.hex !== null) {
      this.hex += ch;
      if (this.hex.length < 4) return '';
      const code = Number.parseInt(this.hex, 16);
      this.hex = null;
      return this.emit(Number.isNaN(code) ? '\ufffd' : code);
    }
    if (this.escape) {
      this.escape = false;
      if (ch === 'u') {
        this.hex = '';
        return '';
      }
      const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };
      return this.emit(map[ch] ?? ch);
    }
    if (ch === '\\') {
      this.escape = true;
      return '';
    }
    if (ch === '"') {
      this.inString = false;
      if (this.role === 'key') this.lastKey = this.key;
      if (this.role === 'say') this.finished = true;
      if (this.role === 'value') this.values[this.lastKey] = this.value;
      const flushed = this.pendingHigh !== null && this.role === 'say' ? '\ufffd' : '';
      this.pendingHigh = null;
      return flushed;
    }
    return this.emit(ch);
  }

  private emit(value: string | number): string {
    let s: string;
    if (typeof value === 'number') {
      if (value >= 0xd800 && value <= 0xdbff) {
        // Hold a high surrogate until its pair arrives, so no delta carries half a character.
        this.pendingHigh = value;
        return '';
      }
      if (value >= 0xdc00 && value <= 0xdfff && this.pendingHigh !== null) {
        s = String.fromCharCode(this.pendingHigh, value);
        this.pendingHigh = null;
      } else {
        s = String.fromCharCode(value);
      }
    } else {
      s = value;
    }
    if (this.role === 'key') {
      this.key += s;
      return '';
    }
    if (this.role === 'value') {
      this.value += s;
      return '';
    }
    return this.role === 'say' ? s : '';
  }
}
