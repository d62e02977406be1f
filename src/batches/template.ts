/**
 * `{{variable}}` placeholders of a batch's call template. The only syntax: two braces, a name of
 * letters, digits and underscores (not starting with a digit), two braces; spaces inside the braces
 * are allowed (`{{ name }}`). Nothing else is special: no escapes, filters or conditions, and a value
 * that itself contains `{{x}}` is inserted as it is (one pass, never rendered again).
 */

export type VariableValue = string | number | boolean;

/** The template texts that may hold placeholders. */
export interface TemplateTexts {
  objective: string;
  context?: string;
  voicemail?: { action: 'hangup' } | { action: 'leave_message'; message: string };
  transfer?: { when?: string; [k: string]: unknown };
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Variable names used in one text, in order of first use. */
export function placeholdersIn(text: string | undefined): string[] {
  if (!text) return [];
  const out = new Set<string>();
  for (const m of text.matchAll(PLACEHOLDER)) out.add(m[1]);
  return [...out];
}

/** Every variable the template uses (objective, context, voicemail.message, transfer.when), in order of first use. */
export function templateVariables(t: TemplateTexts): string[] {
  const texts = [
    t.objective,
    t.context,
    t.voicemail?.action === 'leave_message' ? t.voicemail.message : undefined,
    t.transfer?.when,
  ];
  return [...new Set(texts.flatMap(placeholdersIn))];
}

/** The text with each placeholder replaced by its value; a placeholder without a value is left as it is. */
export function renderText(text: string, vars: Readonly<Record<string, VariableValue>>): string {
  return text.replace(PLACEHOLDER, (whole, name: string) =>
    Object.hasOwn(vars, name) ? String(vars[name]) : whole,
  );
}

export type RenderResult<T> = { ok: true; value: T } | { ok: false; missing: string[] };

/**
 * The template filled in for one row. Refuses (with the names) when the row lacks a variable the
 * template uses; variables the template does not use are ignored.
 */
export function renderTemplate<T extends TemplateTexts>(
  template: T,
  vars: Readonly<Record<string, VariableValue>>,
): RenderResult<T> {
  const missing = templateVariables(template).filter((v) => !Object.hasOwn(vars, v));
  if (missing.length > 0) return { ok: false, missing };
  const out: T = { ...template, objective: renderText(template.objective, vars) };
  if (template.context !== undefined) out.context = renderText(template.context, vars);
  if (template.voicemail?.action === 'leave_message') {
    out.voicemail = { action: 'leave_message', message: renderText(template.voicemail.message, vars) };
  }
  if (template.transfer?.when !== undefined) {
    out.transfer = { ...template.transfer, when: renderText(template.transfer.when, vars) };
  }
  return { ok: true, value: out };
}
