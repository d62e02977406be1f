/**
 * Ticked boxes under one name (days, retry outcomes): a fieldset whose legend names the group, with
 * its hint and its errors announced to screen readers. `id` is the page's id for the name; each box's
 * id adds its value.
 */
export function CheckboxGroup(props: {
  id: string;
  name: string;
  legend: string;
  hint: string;
  options: readonly (readonly [string, string])[];
  checked: readonly string[];
  errors?: readonly string[];
  /** Focus the first box: the group is the form's first invalid input. */
  autofocus: boolean;
}) {
  const { id, name } = props;
  const invalid = (props.errors?.length ?? 0) > 0;
  return (
    <fieldset
      class={`field checkbox-group${invalid ? ' field-invalid' : ''}`}
      id={id}
      aria-describedby={[`${id}-hint`, invalid ? `${id}-error` : null].filter(Boolean).join(' ')}
    >
      <legend>{props.legend}</legend>
      <p class="field-hint" id={`${id}-hint`}>
        {props.hint}
      </p>
      <div class="checkbox-options">
        {props.options.map(([value, label], i) => (
          <label class="checkbox" for={`${id}-${value.replace(/[^a-z]+/g, '-')}`}>
            <input
              type="checkbox"
              name={name}
              value={value}
              id={`${id}-${value.replace(/[^a-z]+/g, '-')}`}
              checked={props.checked.includes(value)}
              {...(invalid ? { 'aria-invalid': 'true' as const } : {})}
              {...(props.autofocus && i === 0 ? { autofocus: true } : {})}
            />{' '}
            {label}
          </label>
        ))}
      </div>
      {invalid ? (
        <p class="field-error" id={`${id}-error`}>
          {props.errors?.join(' ')}
        </p>
      ) : null}
    </fieldset>
  );
}
