import { createHash } from 'node:crypto';

/**
 * HTML for the few pages seed-mcp shows a person in a browser (the loopback result, the OAuth
 * proxy's errors, the demo IdP): one escaper and one page frame, so that every value is escaped
 * the same way and every page looks like it comes from the same tool.
 */

/** `value` as text safe inside HTML content and quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const BASE_STYLE = 'body{font:16px system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#1f2328}h1{font-size:1.3rem}';

export interface HtmlPageOptions {
  /** The `<title>` (escaped here). */
  title: string;
  /** The body's HTML, already escaped by the caller. */
  body: string;
  /** Extra CSS after the base style. */
  style?: string;
}

/**
 * `text` escaped, with each `backquoted` part (a command to run, as in error hints) shown as
 * `<code>`: the hints a terminal prints read the same on a page.
 */
export function escapeWithCode(text: string): string {
  return text
    .split('`')
    .map((part, i) => (i % 2 === 1 ? `<code>${escapeHtml(part)}</code>` : escapeHtml(part)))
    .join('');
}

/**
 * A `<dl>` of facts: labels escaped, text values via {@link escapeWithCode}, `{ html }` values as
 * given (escaped by the caller); rows without a value are left out.
 */
export function factList(rows: ReadonlyArray<readonly [label: string, value: string | { html: string } | undefined]>): string {
  const items = rows.flatMap(([label, value]) =>
    value === undefined || value === '' ? [] : [`<dt>${escapeHtml(label)}</dt><dd>${typeof value === 'string' ? escapeWithCode(value) : value.html}</dd>`],
  );
  return `<dl class="facts">${items.join('')}</dl>`;
}

/** The look of {@link factList}, for a page's `style`. */
export const FACT_LIST_STYLE =
  '.facts{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:1.2rem 0}.facts dt{color:#59636e}.facts dd{margin:0;overflow-wrap:anywhere}' +
  'code{font-family:ui-monospace,monospace;background:#f6f8fa;padding:0 .3rem;border-radius:4px}.note{color:#59636e;font-size:.9rem}';

/** A whole HTML document around `body`: charset, viewport, the title, the base style. */
export function htmlPage(options: HtmlPageOptions): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(options.title)}</title>
<style>${BASE_STYLE}${options.style ?? ''}</style></head>
<body>${options.body}</body></html>`;
}

/**
 * The headers of such a page: no caching, no scripts, no framing (clickjacking), no referrer.
 * Inline styles are allowed: every page carries its own.
 */
export const HTML_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
});

/**
 * {@link HTML_PAGE_HEADERS} for one page made by {@link htmlPage} with `style`, with a stricter
 * policy: only that page's own `<style>` (by its hash) applies, and no script, image, font, form
 * target, base URL or frame is allowed.
 */
export function strictPageHeaders(style = ''): Record<string, string> {
  const hash = createHash('sha256').update(`${BASE_STYLE}${style}`).digest('base64');
  return {
    ...HTML_PAGE_HEADERS,
    'content-security-policy': `default-src 'none'; style-src 'sha256-${hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    'x-content-type-options': 'nosniff',
  };
}
