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
