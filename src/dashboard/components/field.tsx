import type { Child } from 'hono/jsx';

export interface FieldProps {
  /** Input name (and id, unless `id` is given). */
  name: string;
  label: string;
  type?: string;
  value?: string | number | null;
  /** Shown under the input and tied to it with aria-describedby; marks the input invalid. */
  error?: string | null;
  /** Help text, also tied to the input. */
  hint?: string;
  required?: boolean;
  autocomplete?: string;
  placeholder?: string;
  id?: string;
  /** Extra attributes for the input (min, max, pattern, inputmode, autofocus...). */
  attrs?: Record<string, string | number | boolean | undefined>;
  /** `textarea` or `select` (with options) instead of an input. */
  as?: 'input' | 'textarea' | 'select';
  options?: { value: string; label: string }[];
}

/** A labelled input with its hint and error text, both announced by screen readers. */
export function Field(props: FieldProps) {
  const id = props.id ?? `field-${props.name.replace(/[^A-Za-z0-9_-]/g, '-')}`;
  const hintId = props.hint ? `${id}-hint` : undefined;
  const errorId = props.error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  const common = {
    id,
    name: props.name,
    required: props.required,
    'aria-describedby': describedBy,
    'aria-invalid': props.error ? 'true' : undefined,
    autocomplete: props.autocomplete,
    placeholder: props.placeholder,
    ...props.attrs,
  };
  const value = props.value === null || props.value === undefined ? undefined : String(props.value);
  let control: Child;
  if (props.as === 'textarea') {
    control = <textarea {...common}>{value ?? ''}</textarea>;
  } else if (props.as === 'select') {
    control = (
      <select {...common}>
        {(props.options ?? []).map((o) => (
          <option value={o.value} selected={o.value === value}>
            {o.label}
          </option>
        ))}
      </select>
    );
  } else {
    control = <input type={props.type ?? 'text'} value={value} {...common} />;
  }
  return (
    <div class={props.error ? 'field field-invalid' : 'field'}>
      <label for={id}>{props.label}</label>
      {props.hint ? (
        <p class="field-hint" id={hintId}>
          {props.hint}
        </p>
      ) : null}
      {control}
      {props.error ? (
        <p class="field-error" id={errorId}>
          {props.error}
        </p>
      ) : null}
    </div>
  );
}
