import type { Page } from 'playwright-core';

// Accessibility checks run inside the page. The browser-side code is written as strings: the
// project's tsconfig has no DOM lib, and functions handed to page.evaluate would be rewritten by the
// test transform (helper calls the page does not have). Each check returns a list of problems, each
// naming the element it is about, so a failing test says what to fix.

/** Shared browser-side helpers, prepended to every check. */
const PRELUDE = String.raw`
  const describe = (el) => {
    if (!el || !el.tagName) return String(el);
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    const cls = (el.getAttribute('class') || '').trim();
    if (cls) s += '.' + cls.split(/\s+/).join('.');
    const name = el.getAttribute('name');
    if (name) s += '[name=' + name + ']';
    const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
    if (text) s += ' "' + text + '"';
    return s;
  };
  /** Rendered at all: not display:none, not in a closed <details>, not visibility:hidden. */
  const rendered = (el) =>
    el.getClientRects().length > 0 &&
    (typeof el.checkVisibility !== 'function' ||
      el.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: true }));
  /** Clipped to nothing on purpose (the .visually-hidden pattern): for screen readers only. */
  const clippedAway = (el) => {
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const cs = getComputedStyle(n);
      const r = n.getBoundingClientRect();
      if ((r.width <= 1 || r.height <= 1) && cs.overflow !== 'visible') return true;
      if (cs.clip && cs.clip !== 'auto') return true;
      if (cs.clipPath && cs.clipPath !== 'none') return true;
    }
    return false;
  };
  const textOf = (el) => (el ? (el.textContent || '').replace(/\s+/g, ' ').trim() : '');
  const canvas = document.createElement('canvas').getContext('2d');
  /** Any CSS colour as [r, g, b, a] (0-255, alpha 0-1), through the canvas' own parser. */
  const rgba = (css) => {
    canvas.fillStyle = '#000000';
    canvas.fillStyle = css;
    const v = String(canvas.fillStyle);
    if (v.startsWith('#')) {
      return [parseInt(v.slice(1, 3), 16), parseInt(v.slice(3, 5), 16), parseInt(v.slice(5, 7), 16), 1];
    }
    const m = v.match(/rgba?\(([^)]+)\)/);
    if (!m) return [0, 0, 0, 1];
    const p = m[1].split(',').map((x) => parseFloat(x));
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  /** The colour behind an element: its own and its ancestors' backgrounds, composited over white. */
  const backgroundOf = (el) => {
    const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const opacityOf = (el) => {
    let o = 1;
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) o *= parseFloat(getComputedStyle(n).opacity);
    return o;
  };
  const luminance = (c) => {
    const ch = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const ratio = (a, b) => {
    const la = luminance(a);
    const lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  };
  /** The accessible name a screen reader announces for a form control (the parts of accname that apply). */
  const nameOf = (el) => {
    const by = (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean);
    const fromIds = by.map((id) => textOf(document.getElementById(id))).join(' ').trim();
    if (fromIds) return fromIds;
    const aria = (el.getAttribute('aria-label') || '').trim();
    if (aria) return aria;
    const labels = [...(el.labels || [])].map((l) => textOf(l)).join(' ').trim();
    if (labels) return labels;
    const tag = el.tagName.toLowerCase();
    const type = (el.getAttribute('type') || '').toLowerCase();
    if (tag === 'button') {
      const t = textOf(el) || [...el.querySelectorAll('img[alt]')].map((i) => i.alt).join(' ').trim();
      if (t) return t;
    }
    if (tag === 'input' && ['submit', 'reset', 'button'].includes(type)) {
      if ((el.value || '').trim()) return el.value.trim();
      if (type === 'submit') return 'Submit';
      if (type === 'reset') return 'Reset';
    }
    if (tag === 'input' && type === 'image' && (el.alt || '').trim()) return el.alt.trim();
    return (el.getAttribute('title') || '').trim();
  };
  /** Elements that show text on screen now: text nodes' parents, SVG text, filled form fields. */
  const shownText = () => {
    const seen = new Set();
    const candidates = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let t = walker.nextNode(); t; t = walker.nextNode()) {
      if (!t.textContent.trim()) continue;
      const el = t.parentElement;
      if (el && !seen.has(el)) { seen.add(el); candidates.push(el); }
    }
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type !== 'hidden' && (el.value || '').trim() && !['checkbox', 'radio', 'range', 'color', 'file'].includes(el.type)) candidates.push(el);
    }
    return candidates.filter((el) => {
      const tag = el.tagName.toLowerCase();
      if (['script', 'style', 'noscript', 'title', 'option', 'optgroup', 'template'].includes(tag)) return false;
      if (el.closest('svg') && tag !== 'text' && tag !== 'tspan') return false;
      if (!rendered(el) || clippedAway(el)) return false;
      const r = el.getBoundingClientRect();
      return r.bottom > 0 && r.right > 0; // not parked off screen until focused (skip link)
    });
  };
  /**
   * How well the focus ring stands out from the page around it (WCAG 1.4.11, 3:1): the best of the
   * outline's and the box-shadow's colour against the background the ring is drawn on. Null when
   * neither is drawn (the focus shows some other way, compared by focusLook).
   */
  const ringContrast = (el) => {
    const cs = getComputedStyle(el);
    const around = backgroundOf(el.parentElement || el);
    const colours = [];
    if (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 1) colours.push(cs.outlineColor);
    const shadow = cs.boxShadow !== 'none' && cs.boxShadow.match(/rgba?\([^)]*\)/);
    if (shadow) colours.push(shadow[0]);
    if (!colours.length) return null;
    return Math.max(...colours.map((c) => ratio(over(rgba(c), around), around)));
  };
  /** Everything that draws focus on screen, to compare a control focused and not. */
  const focusLook = (el) => {
    const cs = getComputedStyle(el);
    return [
      cs.outlineStyle === 'none' ? 'none' : cs.outlineStyle + ' ' + cs.outlineWidth + ' ' + cs.outlineColor,
      cs.boxShadow,
      cs.borderTopColor + ' ' + cs.borderTopWidth + ' ' + cs.borderBottomColor + ' ' + cs.borderBottomWidth,
      cs.backgroundColor,
      cs.textDecorationLine + ' ' + cs.textDecorationThickness,
    ].join(' | ');
  };
`;

const run = async (page: Page, body: string): Promise<string[]> =>
  (await page.evaluate(`(() => { ${PRELUDE}\n${body}\n})()`)) as string[];

/** (a) Nothing runs off the side: the page never scrolls sideways at the current viewport width. */
export function horizontalOverflow(page: Page): Promise<string[]> {
  return run(
    page,
    `
    const width = window.innerWidth;
    const scrollWidth = document.scrollingElement.scrollWidth;
    if (scrollWidth <= width) return [];
    // Name the culprits: elements that end past the viewport without a scrolling box around them.
    const culprits = [];
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.right <= width + 0.5 || !rendered(el)) continue;
      let inScroller = false;
      // An absolutely placed box is clipped only by scrollers at or above its containing block.
      const positioned = ['absolute', 'fixed'].includes(getComputedStyle(el).position);
      for (let p = positioned ? el.offsetParent : el.parentElement; p && p !== document.body; p = p.parentElement) {
        const ox = getComputedStyle(p).overflowX;
        if (ox === 'auto' || ox === 'scroll' || ox === 'hidden' || ox === 'clip') { inScroller = true; break; }
      }
      if (!inScroller) culprits.push(describe(el) + ' ends at ' + Math.round(r.right) + 'px');
    }
    return ['the page is ' + scrollWidth + 'px wide in a ' + width + 'px viewport: ' + culprits.slice(0, 6).join('; ')];
  `,
  );
}

/** (b) Every rendered input, select, textarea and button has an accessible name. */
export function unnamedControls(page: Page): Promise<string[]> {
  return run(
    page,
    `
    const problems = [];
    for (const el of document.querySelectorAll('input, select, textarea, button')) {
      if (el.type === 'hidden' || !rendered(el)) continue;
      if (!nameOf(el)) problems.push(describe(el) + ' has no accessible name');
    }
    return problems;
  `,
  );
}

/**
 * (b') Label in name (WCAG 2.5.3): a button or link whose name comes from aria-label says the words it
 * shows, so "click Remove" spoken to voice control finds the Remove button.
 */
export function nameWithoutVisibleLabel(page: Page): Promise<string[]> {
  return run(
    page,
    String.raw`
    const problems = [];
    const norm = (t) => t.toLowerCase().replace(/[^\p{L}\p{N}+@.]+/gu, ' ').trim();
    for (const el of document.querySelectorAll('button[aria-label], a[href][aria-label], [role=button][aria-label]')) {
      if (!rendered(el) || clippedAway(el)) continue;
      const visible = norm(el.innerText || '');
      const name = norm(nameOf(el));
      if (visible && !name.includes(visible)) problems.push(describe(el) + ' is named "' + nameOf(el) + '", which does not contain its visible text');
    }
    return problems;
  `,
  );
}

/**
 * (b'') An error said at a field is tied to it: a control marked aria-invalid points at its message
 * (aria-describedby or aria-errormessage), and each field's error message is pointed at by its
 * control, so a screen reader reads the error when the field is reached.
 */
export function untiedErrors(page: Page): Promise<string[]> {
  return run(
    page,
    String.raw`
    const problems = [];
    const refs = (el) => ((el.getAttribute('aria-describedby') || '') + ' ' + (el.getAttribute('aria-errormessage') || ''))
      .split(/\s+/).filter(Boolean);
    const controls = [...document.querySelectorAll('input, select, textarea')].filter((el) => el.type !== 'hidden');
    for (const el of controls) {
      if (el.getAttribute('aria-invalid') !== 'true') continue;
      if (!refs(el).some((id) => textOf(document.getElementById(id)))) problems.push(describe(el) + ' is invalid but points at no message');
    }
    for (const msg of document.querySelectorAll('.field .field-error, .field-error[id]')) {
      if (!rendered(msg) || !textOf(msg)) continue;
      const field = msg.closest('.field, .filter, form');
      const tied = msg.id && controls.some((el) => refs(el).includes(msg.id));
      if (!tied) problems.push(describe(msg) + (field ? ' (in ' + describe(field).slice(0, 40) + ')' : '') + ' is read by no control');
    }
    return problems;
  `,
  );
}

/** (c) One h1, one main landmark, a language on <html>, a title, and headings that skip no level. */
export function pageStructure(page: Page): Promise<string[]> {
  return run(
    page,
    `
    const problems = [];
    const h1s = [...document.querySelectorAll('h1')].filter(rendered);
    if (h1s.length !== 1) problems.push(h1s.length + ' h1 headings (want exactly one): ' + h1s.map(describe).join('; '));
    const mains = [...document.querySelectorAll('main, [role=main]')];
    if (mains.length !== 1) problems.push(mains.length + ' main landmarks (want exactly one)');
    if (!(document.documentElement.getAttribute('lang') || '').trim()) problems.push('<html> has no lang');
    if (!document.title.trim()) problems.push('the page has no <title>');
    // Headings are the page's outline for screen-reader users: no level skipped on the way down.
    let level = 0;
    for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
      if (!rendered(h) && !clippedAway(h)) continue;
      const l = Number(h.tagName[1]);
      if (level && l > level + 1) problems.push(describe(h) + ' follows an h' + level + ' (a level skipped)');
      level = l;
    }
    return problems;
  `,
  );
}

/** Elements with the hidden attribute that an author's display rule shows all the same. */
export function shownDespiteHidden(page: Page): Promise<string[]> {
  return run(
    page,
    `
    return [...document.querySelectorAll('body [hidden]')]
      .filter((el) => getComputedStyle(el).display !== 'none')
      .map((el) => describe(el) + ' has the hidden attribute but is displayed');
  `,
  );
}

/**
 * (d) WCAG 2 contrast of every visible piece of text against what is behind it: 4.5:1, or 3:1 for
 * large text (24px, or bold from 18.66px). Disabled controls are exempt (WCAG 1.4.3), as is text
 * clipped away for screen readers only. SVG text is measured by its fill.
 */
export function lowContrast(page: Page): Promise<string[]> {
  return run(
    page,
    `
    const problems = [];
    for (const el of shownText()) {
      if (el.closest(':disabled, [aria-disabled=true]')) continue;
      const cs = getComputedStyle(el);
      const tag = el.tagName.toLowerCase();
      const inSvg = tag === 'text' || tag === 'tspan';
      const fg = rgba(inSvg ? cs.fill : cs.color);
      const bg = backgroundOf(el);
      const alpha = fg[3] * opacityOf(el);
      const shown = over([fg[0], fg[1], fg[2], alpha], bg);
      const size = parseFloat(cs.fontSize);
      const bold = parseInt(cs.fontWeight, 10) >= 700;
      const large = size >= 24 || (bold && size >= 18.66);
      const need = large ? 3 : 4.5;
      const got = ratio(shown, bg);
      if (got < need - 0.005) {
        problems.push(describe(el) + ': ' + got.toFixed(2) + ':1 (need ' + need + ') — ' +
          (inSvg ? cs.fill : cs.color) + ' on rgb(' + bg.slice(0, 3).map(Math.round).join(', ') + ')' +
          (alpha < 1 ? ' at opacity ' + alpha.toFixed(2) : ''));
      }
    }
    return problems;
  `,
  );
}

/**
 * (e') Target size (WCAG 2.5.8): controls are at least 24×24 px, or have room around them (a 24 px
 * circle on an undersized one touches no other target). Links inside a sentence are exempt, as the
 * criterion says; a link standing alone (nav, a table cell, a pager) is a target like a button.
 */
export function smallTargets(page: Page): Promise<string[]> {
  return run(
    page,
    `
    const inSentence = (a) => {
      const parent = a.parentElement;
      if (!parent) return false;
      const own = [...parent.childNodes].filter((n) => n !== a).map((n) => n.textContent || '').join('').trim();
      return own.length > 0 && getComputedStyle(a).display === 'inline';
    };
    const targets = [...document.querySelectorAll('button, input, select, textarea, summary, a[href]')].filter((el) =>
      el.type !== 'hidden' && rendered(el) && !clippedAway(el) && !(el.tagName === 'A' && inSentence(el)) &&
      el.getBoundingClientRect().bottom > 0);
    const boxes = targets.map((el) => el.getBoundingClientRect());
    const small = boxes.map((r) => r.width < 24 - 0.01 || r.height < 24 - 0.01);
    const centre = (r) => [r.left + r.width / 2, r.top + r.height / 2];
    const toRect = (p, r) => Math.hypot(Math.max(r.left - p[0], 0, p[0] - r.right), Math.max(r.top - p[1], 0, p[1] - r.bottom));
    const problems = [];
    targets.forEach((el, i) => {
      if (!small[i]) return;
      const c = centre(boxes[i]);
      const crowded = targets.some((other, j) => {
        if (j === i || other.contains(el) || el.contains(other)) return false;
        return small[j] ? Math.hypot(c[0] - centre(boxes[j])[0], c[1] - centre(boxes[j])[1]) < 24 : toRect(c, boxes[j]) < 12;
      });
      if (crowded) problems.push(describe(el) + ' is ' + Math.round(boxes[i].width) + '×' + Math.round(boxes[i].height) + 'px with another target within reach');
    });
    return problems;
  `,
  );
}

/**
 * Text drawn smaller than 10px as it lands on screen, scaling included: SVG text shrinks with its
 * picture, so a chart drawn for a desktop can end up unreadable on a phone.
 */
export function tinyText(page: Page): Promise<string[]> {
  return run(
    page,
    `
    const problems = [];
    for (const el of shownText()) {
      const tag = el.tagName.toLowerCase();
      const svg = tag === 'text' || tag === 'tspan' ? el.ownerSVGElement : null;
      let px = parseFloat(getComputedStyle(el).fontSize);
      if (svg && svg.viewBox && svg.viewBox.baseVal && svg.viewBox.baseVal.width) {
        px *= svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
      }
      if (px < 10 - 0.05) problems.push(describe(el) + ' is drawn at ' + px.toFixed(1) + 'px');
    }
    return problems;
  `,
  );
}

/**
 * (f) Pictures carry a text alternative: an <img> has alt; an <svg> is either role=img with a name,
 * or aria-hidden with the same information as text beside it (in its section); a <canvas> has a
 * name or fallback content.
 */
export function graphicsWithoutText(page: Page): Promise<string[]> {
  return run(
    page,
    String.raw`
    const problems = [];
    for (const img of document.querySelectorAll('img')) {
      if (!img.hasAttribute('alt') && img.getAttribute('aria-hidden') !== 'true') problems.push(describe(img) + ' has no alt');
    }
    const named = (el) => (el.getAttribute('aria-label') || '').trim() ||
      (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean).map((id) => textOf(document.getElementById(id))).join('').trim() ||
      textOf(el.querySelector(':scope > title'));
    for (const svg of document.querySelectorAll('svg')) {
      if (svg.parentElement && svg.parentElement.closest('svg')) continue;
      if (svg.closest('[aria-hidden=true]') && svg.getAttribute('aria-hidden') !== 'true') continue;
      if (svg.getAttribute('aria-hidden') === 'true') {
        // Hidden from screen readers: the section it sits in must say the same in words, or carry a
        // control (the audio player) that is the accessible way to what the picture shows.
        const section = svg.closest('section, figure, .panel, details') || svg.parentElement;
        let words = '';
        for (const n of section.querySelectorAll('*')) {
          if (svg.contains(n) || n.closest('[aria-hidden=true]')) continue;
          if (n.children.length === 0) words += ' ' + (n.textContent || '');
        }
        const alternative = words.replace(/\s+/g, ' ').trim().length >= 10 || section.querySelector('audio[controls], video[controls], table');
        if (!alternative) problems.push(describe(svg) + ' is hidden from screen readers with no text beside it');
        continue;
      }
      if (svg.getAttribute('role') !== 'img' || !named(svg)) problems.push(describe(svg) + ' conveys nothing to a screen reader (want role=img and a name, or aria-hidden with text beside it)');
    }
    for (const c of document.querySelectorAll('canvas')) {
      if (c.getAttribute('aria-hidden') === 'true') continue;
      if (!named(c) && !textOf(c)) problems.push(describe(c) + ' has no text alternative');
    }
    return problems;
  `,
  );
}

export interface KeyboardReport {
  /** The elements Tab reached, in order (described). */
  reached: string[];
  /** Nav links and controls in <main> that Tab never reached. */
  unreached: string[];
  /** Elements that looked the same focused as not. */
  noFocusIndicator: string[];
  /** Elements whose focus ring is under 3:1 against the page around it. */
  faintFocusRing: string[];
}

/**
 * (e) Tabs through the page from its start (until focus leaves the page or comes around again):
 * every link of the main nav and every enabled control in <main> must be reached (one radio of a
 * group is enough: arrows move within it), and each reached element must look different focused
 * than after focus left it.
 */
export async function keyboardWalk(page: Page): Promise<KeyboardReport> {
  const max = (await page.evaluate(`(() => {
    // Tab starts from the top of the page, ahead of any autofocused field: from a focused, unfocusable-
    // by-Tab marker at the start of <body> (a blur would leave Tab's starting point where focus was).
    const start = document.createElement('span');
    start.tabIndex = -1;
    document.body.prepend(start);
    start.focus();
    window.__a11yKeys = { reached: [], looks: [], noIndicator: [], faintRing: [], start };
    return document.querySelectorAll('a[href], button, input, select, textarea, audio[controls], video[controls], summary, [tabindex]').length;
  })()`)) as number;
  // Native media controls take several stops (play, timeline, volume...) on one element.
  const limit = max * 2 + 12;
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    const state = (await page.evaluate(`(() => { ${PRELUDE}
      const k = window.__a11yKeys;
      if (k.start) { k.start.remove(); k.start = null; }
      const el = document.activeElement;
      const prev = k.reached[k.reached.length - 1];
      if (prev && prev !== el) {
        // The previous stop has lost focus now: it must look different from when it had it.
        if (focusLook(prev) === k.looks[k.looks.length - 1]) k.noIndicator.push(describe(prev));
      }
      if (!el || el === document.body || el === document.documentElement) return 'left';
      if (el === prev) return 'same';
      if (k.reached.includes(el)) return 'around';
      k.reached.push(el);
      k.looks.push(focusLook(el));
      const ring = ringContrast(el);
      if (ring !== null && ring < 3 - 0.005) k.faintRing.push(describe(el) + ': ' + ring.toFixed(2) + ':1');
      return 'next';
    })()`)) as string;
    if (state === 'left' || state === 'around') break;
  }
  return (await page.evaluate(`(() => { ${PRELUDE}
    const k = window.__a11yKeys;
    const reached = new Set(k.reached);
    const radioGroups = new Set(k.reached.filter((e) => e.type === 'radio').map((e) => e.name));
    const want = [
      ...document.querySelectorAll('nav[aria-label=Main] a[href]'),
      ...document.querySelectorAll('main a[href], main input, main select, main textarea, main button, main audio[controls], main summary'),
    ];
    const unreached = [];
    for (const el of want) {
      if (el.type === 'hidden' || el.disabled || !rendered(el)) continue;
      if (el.closest('[inert], [aria-hidden=true]')) continue;
      if (el.tagName === 'SUMMARY' && el.parentElement.tagName !== 'DETAILS') continue;
      if (el.type === 'radio' && radioGroups.has(el.name)) continue;
      if (!reached.has(el)) unreached.push(describe(el));
    }
    return { reached: k.reached.map(describe), unreached, noFocusIndicator: k.noIndicator, faintFocusRing: k.faintRing };
  })()`)) as KeyboardReport;
}

export interface PageAudit {
  overflow: string[];
  unnamed: string[];
  labelNotInName: string[];
  untiedErrors: string[];
  structure: string[];
  hiddenShown: string[];
  contrast: string[];
  tinyText: string[];
  smallTargets: string[];
  graphics: string[];
  keyboard: KeyboardReport;
}

/** Every check on the page as it is now (the keyboard walk last: it moves focus). */
export async function auditPage(page: Page): Promise<PageAudit> {
  return {
    overflow: await horizontalOverflow(page),
    unnamed: await unnamedControls(page),
    labelNotInName: await nameWithoutVisibleLabel(page),
    untiedErrors: await untiedErrors(page),
    structure: await pageStructure(page),
    hiddenShown: await shownDespiteHidden(page),
    contrast: await lowContrast(page),
    tinyText: await tinyText(page),
    smallTargets: await smallTargets(page),
    graphics: await graphicsWithoutText(page),
    keyboard: await keyboardWalk(page),
  };
}

/** The audit's failures only, for one expect(...).toEqual({}) that prints them all. */
export function failures(audit: PageAudit): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (k: string, v: string[]) => {
    if (v.length) out[k] = v;
  };
  add('overflow', audit.overflow);
  add('unnamed controls', audit.unnamed);
  add('visible label not in name', audit.labelNotInName);
  add('error not tied to its field', audit.untiedErrors);
  add('structure', audit.structure);
  add('hidden but shown', audit.hiddenShown);
  add('contrast', audit.contrast);
  add('text too small', audit.tinyText);
  add('target too small', audit.smallTargets);
  add('graphics', audit.graphics);
  add('not reached by Tab', audit.keyboard.unreached);
  add('no visible focus', audit.keyboard.noFocusIndicator);
  add('focus ring too faint', audit.keyboard.faintFocusRing);
  return out;
}
