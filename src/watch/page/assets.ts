import { createHash } from 'node:crypto';

/**
 * The page's only style and script, inline: the page loads nothing from anywhere, so it works
 * offline and behind any proxy. The Content-Security-Policy allows exactly these two, by hash.
 */

export const PAGE_STYLE = `
:root { color-scheme: light dark; --good: #1a7f37; --bad: #cf222e; --warn: #9a6700; --busy: #0969da; --line: #8884; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5rem 2rem; }
header { display: flex; align-items: baseline; gap: 1rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.3rem; margin: .8rem 0; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .8rem 0; }
dt { opacity: .7; }
dd { margin: 0; }
table { border-collapse: collapse; }
th, td { text-align: left; vertical-align: top; padding: .25rem .6rem; border-bottom: 1px solid var(--line); }
thead th { font-weight: 600; }
.mono, time { font-family: ui-monospace, monospace; font-size: .92em; }
.none { opacity: .55; }
.why { font-weight: normal; font-size: .85em; opacity: .75; max-width: 22rem; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: .7rem; font-size: .85em; color: #fff; }
.badge.good { background: var(--good); } .badge.bad { background: var(--bad); }
.badge.warn { background: var(--warn); } .badge.busy { background: var(--busy); }
.replica { display: inline-block; margin: .1rem .2rem .1rem 0; padding: .1rem .45rem; border-radius: .3rem; border: 1px solid; }
.replica.good { border-color: var(--good); } .replica.warn { border-color: var(--warn); }
.replica.bad { border-color: var(--bad); background: #cf222e22; }
.replica small { opacity: .75; }
tr.short td:nth-child(4) { color: var(--bad); font-weight: 600; }
.alert { padding: .4rem .7rem; border-left: 4px solid var(--bad); background: #cf222e18; }
#live { font-size: .85em; opacity: .75; }
#live[data-live="live"]::before { content: "● "; color: var(--good); }
#live[data-live="reconnecting"]::before { content: "● "; color: var(--bad); }
`;

/**
 * Follows the daemon's stream: each event is the view, rendered and escaped on the server, that
 * replaces the one shown. EventSource reconnects by itself; the header says when it is cut.
 */
export const PAGE_SCRIPT = `
(() => {
  const live = document.getElementById('live');
  const view = document.getElementById('view');
  const say = (state, text) => { live.dataset.live = state; live.textContent = text; };
  const stream = new EventSource('events?view=html');
  stream.addEventListener('view', (event) => { view.innerHTML = event.data; say('live', 'live'); });
  stream.addEventListener('open', () => say('live', 'live'));
  stream.addEventListener('error', () => say('reconnecting', 'reconnecting…'));
})();
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/** Nothing but the inline style and script above, and the stream from the page's own origin. */
export const PAGE_CSP = [
  "default-src 'none'",
  `style-src ${sha256(PAGE_STYLE)}`,
  `script-src ${sha256(PAGE_SCRIPT)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
