import type { CallField } from '../../db/schema.js';
import type { JsonSchema } from '../dialogue/types.js';

/** Longest summary the model may write: two or three sentences. A grammar built from the schema closes the string there. */
export const SUMMARY_MAX_CHARS = 480;
/** Longest text value of an extracted field. */
export const FIELD_MAX_CHARS = 160;

/**
 * The JSON schema of `extracted` for a call's fields: every field required, of its type or null (a value
 * the conversation did not establish is null), no other keys. Text values are bounded, so an answer
 * constrained by it always closes (numbers and whitespace are bounded by the grammar itself).
 */
export function buildExtractionSchema(fields: readonly CallField[]): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const f of fields) {
    const type = f.type ?? 'string';
    const prop: JsonSchema = { type: [type, 'null'] };
    if (type === 'string') prop.maxLength = FIELD_MAX_CHARS;
    if (f.description?.trim()) prop.description = f.description.trim();
    properties[f.name] = prop;
  }
  return {
    type: 'object',
    properties,
    required: fields.map((f) => f.name),
    additionalProperties: false,
  };
}

/** The schema of the post-call answer: a summary, then the extracted fields. */
export function buildSummarySchema(fields: readonly CallField[]): JsonSchema {
  return {
    type: 'object',
    properties: {
      summary: {
        type: 'string',
        description: 'Two or three plain-English sentences on what happened on the call.',
        maxLength: SUMMARY_MAX_CHARS,
      },
      extracted: buildExtractionSchema(fields),
    },
    required: ['summary', 'extracted'],
    additionalProperties: false,
  };
}

const NULL_WORDS = new Set(['', 'null', 'none', 'unknown', 'n/a', 'na', 'not mentioned', 'not established']);

function coerceValue(type: CallField['type'], value: unknown): string | number | boolean | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' && NULL_WORDS.has(value.trim().toLowerCase())) return null;
  switch (type ?? 'string') {
    case 'number': {
      if (typeof value === 'number') return Number.isFinite(value) ? value : null;
      if (typeof value === 'string') {
        const n = Number(value.trim().replace(/,/g, ''));
        return Number.isFinite(n) ? n : null;
      }
      return null;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string') {
        const v = value.trim().toLowerCase();
        if (['true', 'yes', 'y'].includes(v)) return true;
        if (['false', 'no', 'n'].includes(v)) return false;
      }
      return null;
    }
    default: {
      if (typeof value === 'string') return value.trim();
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      return null;
    }
  }
}

/**
 * Makes a model's `extracted` answer match the call's fields: every field present, values of the
 * requested type (convertible strings such as "42" or "yes" converted, anything else null), unknown keys dropped.
 */
export function coerceExtracted(fields: readonly CallField[], raw: unknown): Record<string, unknown> {
  const obj = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    out[f.name] = Object.hasOwn(obj, f.name) ? coerceValue(f.type, obj[f.name]) : null;
  }
  return out;
}
