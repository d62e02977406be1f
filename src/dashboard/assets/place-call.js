// "Fields to extract" rows of the Place a call form: add a row in place and remove any row. Without
// this script the "Add a field" button posts the form back with one more empty row, and a row left
// empty is skipped.
(() => {
  const container = document.querySelector('[data-field-rows]');
  const addButton = document.querySelector('[data-add-field]');
  if (!container || !addButton) return;

  const ROW_NAME = /^fields\[\d+\]\./;

  function nextIndex() {
    let max = -1;
    for (const row of container.querySelectorAll('[data-field-row]')) {
      max = Math.max(max, Number(row.getAttribute('data-field-row')));
    }
    return max + 1;
  }

  /** Renames a copied row's inputs, ids, labels and ARIA references to index `i`, with blank values. */
  function renumber(row, i) {
    row.setAttribute('data-field-row', String(i));
    for (const el of row.querySelectorAll('input, select')) {
      el.name = el.name.replace(ROW_NAME, `fields[${i}].`);
      el.id = el.id.replace(/^f-fields-\d+-/, `f-fields-${i}-`);
      el.removeAttribute('aria-invalid');
      el.removeAttribute('aria-describedby');
      el.removeAttribute('autofocus');
      if (el.tagName === 'SELECT') el.selectedIndex = 0;
      else el.value = '';
    }
    for (const label of row.querySelectorAll('label')) {
      label.htmlFor = label.htmlFor.replace(/^f-fields-\d+-/, `f-fields-${i}-`);
      label.textContent = label.textContent.replace(/^Field \d+/, `Field ${i + 1}`);
    }
    for (const el of row.querySelectorAll('.field-error')) el.remove();
    for (const el of row.querySelectorAll('.field-invalid')) el.classList.remove('field-invalid');
  }

  function addRemoveButton(row) {
    if (row.querySelector('[data-remove-field]')) return;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'button-secondary';
    button.setAttribute('data-remove-field', '');
    button.textContent = 'Remove';
    button.setAttribute(
      'aria-label',
      `Remove ${row.querySelector('label')?.textContent.replace(/ name$/, '') ?? 'field'}`,
    );
    button.addEventListener('click', () => {
      const rows = container.querySelectorAll('[data-field-row]');
      if (rows.length === 1) {
        // The last row stays as the blank one to type into.
        renumber(row, Number(row.getAttribute('data-field-row')));
        row.querySelector('input')?.focus();
        return;
      }
      const next = row.nextElementSibling ?? row.previousElementSibling;
      row.remove();
      next?.querySelector('input')?.focus();
    });
    row.appendChild(button);
  }

  for (const row of container.querySelectorAll('[data-field-row]')) addRemoveButton(row);

  addButton.addEventListener('click', (event) => {
    event.preventDefault();
    const rows = container.querySelectorAll('[data-field-row]');
    const copy = rows[rows.length - 1].cloneNode(true);
    copy.querySelector('[data-remove-field]')?.remove();
    renumber(copy, nextIndex());
    container.appendChild(copy);
    addRemoveButton(copy);
    copy.querySelector('input')?.focus();
  });
})();
