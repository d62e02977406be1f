/** One problem of a 400: the field as the client wrote it, and what is wrong with it. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** `fields[0].name` style paths: what a client sees in its own body. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(body)';
}
