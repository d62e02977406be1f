import { type FieldProblem, fieldPath } from './field-path.js';

const LONE_SURROGATE = /\p{Cs}/u;
const MAX_PROBLEMS = 20;
const MAX_KEY_SHOWN = 64;

/** What in a string PostgreSQL refuses (NUL in text and jsonb) or silently replaces (lone surrogates). */
function unstorable(s: string): string | null {
  if (s.includes('\u0000')) return 'NUL (\\u0000)';
  if (LONE_SURROGATE.test(s)) return 'a lone UTF-16 surrogate (\\ud800-\\udfff without its pair)';
  return null;
}

const shownKey = (k: string) => (k.length > MAX_KEY_SHOWN ? `${k.slice(0, MAX_KEY_SHOWN)}…` : k);

interface Pending {
  value: unknown;
  path: PropertyKey[];
  /** Containers from the body down to this value: a top-level field's object or array is level 1. */
  level: number;
}

/**
 * Everything in a parsed JSON body that could not be stored as sent, each named by its field path:
 * NUL characters and lone surrogates in any string or key, a `__proto__` key, and nesting deeper than
 * `maxDepth` levels under a top-level field (JSON.stringify and jsonb recurse). The walk is
 * iterative and stops at `maxDepth`, so a body nested 30,000 levels costs no stack. At most 20.
 */
export function unstorableProblems(body: unknown, maxDepth: number): FieldProblem[] {
  const out: FieldProblem[] = [];
  const tooDeep = new Set<string>();
  const stack: Pending[] = [{ value: body, path: [], level: 0 }];
  while (stack.length > 0 && out.length < MAX_PROBLEMS) {
    const { value, path, level } = stack.pop() as Pending;
    if (typeof value === 'string') {
      const bad = unstorable(value);
      if (bad) out.push({ field: fieldPath(path), message: `must not contain ${bad}` });
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (level > maxDepth) {
      const top = fieldPath(path.slice(0, 1));
      if (!tooDeep.has(top)) {
        tooDeep.add(top);
        out.push({ field: top, message: `must not nest deeper than ${maxDepth} levels` });
      }
      continue;
    }
    const children: Pending[] = [];
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        children.push({ value: v, path: [...path, i], level: level + 1 });
      });
    } else {
      for (const [k, v] of Object.entries(value)) {
        const bad = unstorable(k);
        if (bad) {
          out.push({ field: fieldPath(path), message: `must not have a key that contains ${bad}` });
          continue;
        }
        if (k === '__proto__') {
          // Schema parsing drops it from `metadata` without a word, and a JavaScript receiver of the
          // webhook that merges it would change its prototypes.
          out.push({ field: fieldPath(path), message: "must not have a key named '__proto__'" });
          continue;
        }
        children.push({ value: v, path: [...path, shownKey(k)], level: level + 1 });
      }
    }
    // Reversed onto the stack, so problems come out in the order the client wrote the fields.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return out;
}

/** Whether a JSON value nests more than `maxLevels` objects/arrays (the value itself is level 1); no recursion. */
export function nestsDeeperThan(value: unknown, maxLevels: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, level] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (level > maxLevels) return true;
    for (const child of Object.values(v)) stack.push([child, level + 1]);
  }
  return false;
}
