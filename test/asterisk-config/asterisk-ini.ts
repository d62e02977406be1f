/**
 * Reads a configuration file the way Asterisk's config loader (main/config.c) does, so a test can see what
 * Asterisk would see: `;` comments (`\;` is a literal semicolon), `;-- … --;` block comments, `[name](options)`
 * headers (`!` template, `+` append to an earlier section, any other name a section or template to copy from),
 * `name = value` / `name => value` lines, and `#include` / `#tryinclude` / `#exec` directives, whose text the
 * caller supplies. What Asterisk refuses to load (a variable before any section, `(+)` or inheritance naming a
 * section that does not exist, a missing `#include`) throws.
 */

export interface ConfSection {
  name: string;
  /** Declared with `!`: only other sections inherit it; no object is built from it. */
  template: boolean;
  /** In order, inherited variables first; a name may repeat (`allow`, `match`, `contact`, `require`). */
  vars: Array<[string, string]>;
  /** Where the header was, `file:line`. */
  at: string;
}

export interface ConfDirective {
  kind: 'include' | 'tryinclude' | 'exec';
  /** The directive's argument as written, quotes removed. */
  target: string;
  /** `file:line` of the directive. */
  at: string;
}

/** The included text (`name` labels it in messages), or null for a file that does not exist. */
export type IncludeResolver = (directive: ConfDirective) => { name: string; text: string } | null;

export class ConfParseError extends Error {}

const MAX_INCLUDE_DEPTH = 10;

export function parseAsteriskConfig(text: string, file: string, resolve: IncludeResolver): ConfSection[] {
  const sections: ConfSection[] = [];
  parseInto(sections, null, text, file, resolve, 0);
  return sections;
}

/** Every value of `key` in the section, in order. */
export function values(section: ConfSection, key: string): string[] {
  return section.vars.filter(([k]) => k === key).map(([, v]) => v);
}

/** The value Asterisk applies for a single-valued option: the last one set. */
export function value(section: ConfSection, key: string): string | undefined {
  const all = values(section, key);
  return all.length ? all[all.length - 1] : undefined;
}

/** Asterisk's ast_true(). */
export function isTrue(v: string | undefined): boolean {
  return v !== undefined && /^(yes|true|y|t|1|on)$/i.test(v.trim());
}

function parseInto(
  sections: ConfSection[],
  start: ConfSection | null,
  text: string,
  file: string,
  resolve: IncludeResolver,
  depth: number,
): void {
  if (depth > MAX_INCLUDE_DEPTH)
    throw new ConfParseError(`${file}: includes nested deeper than ${MAX_INCLUDE_DEPTH}`);
  let current = start;
  let blockDepth = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const at = `${file}:${i + 1}`;
    const stripped = stripComments(lines[i], blockDepth);
    blockDepth = stripped.blockDepth;
    const line = stripped.text.trim();
    if (!line) continue;

    if (line.startsWith('[')) {
      current = header(sections, line, at);
      continue;
    }
    if (line.startsWith('#')) {
      const m = /^#\s*(include|tryinclude|exec)\s+(.+)$/i.exec(line);
      if (!m) throw new ConfParseError(`${at}: unknown directive ${line}`);
      const directive: ConfDirective = {
        kind: m[1].toLowerCase() as ConfDirective['kind'],
        target: m[2].trim().replace(/^(["<])(.*)[">]$/, '$2'),
        at,
      };
      const included = resolve(directive);
      if (!included) {
        if (directive.kind === 'tryinclude') continue;
        throw new ConfParseError(
          `${at}: ${directive.target} was listed as an #${directive.kind} but does not exist`,
        );
      }
      // The included text starts in the section in effect; the including file goes on in its own one.
      parseInto(sections, current, included.text, included.name, resolve, depth + 1);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new ConfParseError(`${at}: no '=' in ${line}`);
    if (!current) throw new ConfParseError(`${at}: no section for ${line}`);
    const key = line.slice(0, eq).replace(/\+$/, '').trim().toLowerCase();
    const raw = line.slice(eq + 1);
    const val = (raw.startsWith('>') ? raw.slice(1) : raw).trim();
    current.vars.push([key, val]);
  }
  if (blockDepth > 0) throw new ConfParseError(`${file}: block comment ';--' never closed`);
}

function header(sections: ConfSection[], line: string, at: string): ConfSection {
  const close = line.indexOf(']');
  if (close < 0) throw new ConfParseError(`${at}: no closing ']'`);
  const name = line.slice(1, close);
  const rest = line.slice(close + 1).trim();
  const section: ConfSection = { name, template: false, vars: [], at };
  if (!rest) {
    sections.push(section);
    return section;
  }
  const opts = /^\((.*)\)$/.exec(rest);
  if (!opts) throw new ConfParseError(`${at}: no closing ')'`);
  let appendTo: ConfSection | null = null;
  for (const opt of opts[1].split(',').map((o) => o.trim())) {
    if (opt === '!') section.template = true;
    else if (opt.startsWith('+')) {
      appendTo = sections.find((s) => s.name === name) ?? null;
      if (!appendTo) throw new ConfParseError(`${at}: (+) names section '${name}', which does not exist`);
    } else {
      const base = sections.find((s) => s.name === opt);
      if (!base) throw new ConfParseError(`${at}: inherits '${opt}', which does not exist`);
      section.vars.push(...base.vars.map(([k, v]): [string, string] => [k, v]));
    }
  }
  if (appendTo) {
    appendTo.vars.push(...section.vars);
    appendTo.template ||= section.template;
    return appendTo;
  }
  sections.push(section);
  return section;
}

/** Drops what Asterisk treats as comment on one line, carrying the `;-- --;` nesting across lines. */
function stripComments(line: string, depthIn: number): { text: string; blockDepth: number } {
  let depth = depthIn;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (depth > 0) {
      if (line.startsWith('--;', i)) {
        depth--;
        i += 2;
      } else if (line.startsWith(';--', i) && line[i + 3] !== '-') {
        depth++;
        i += 2;
      }
      continue;
    }
    if (c === '\\' && line[i + 1] === ';') {
      out += ';';
      i++;
    } else if (c === ';') {
      if (line.startsWith(';--', i) && line[i + 3] !== '-') {
        depth++;
        i += 2;
      } else {
        break;
      }
    } else {
      out += c;
    }
  }
  return { text: out, blockDepth: depth };
}
