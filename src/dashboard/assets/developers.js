// Copy buttons of the Developers page: a key, the webhook secret and the snippets. Without this
// script there are no buttons and the text stays selectable by hand.
(() => {
  const status = document.querySelector('[data-copy-status]');

  function say(message) {
    if (status) status.textContent = message;
  }

  /** The Clipboard API needs a secure context (https or localhost); elsewhere a selected textarea works. */
  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    if (!ok) throw new Error('copy refused');
  }

  // The page marks where each button goes; they are made here, so without script none is shown.
  for (const slot of document.querySelectorAll('[data-copy-target]')) {
    const target = document.getElementById(slot.getAttribute('data-copy-target'));
    if (!target) continue;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'button-secondary';
    button.textContent = slot.getAttribute('data-copy-label') || 'Copy';
    slot.appendChild(button);
    button.addEventListener('click', async () => {
      try {
        await copyText(target.textContent);
        say(`${button.textContent.trim().replace(/^Copy /, '')} copied.`);
      } catch {
        // Leave the text selected so the person can copy it with the keyboard.
        const range = document.createRange();
        range.selectNodeContents(target);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        say('Copying is not allowed here; the text is selected, press Ctrl+C.');
      }
    });
  }
})();
