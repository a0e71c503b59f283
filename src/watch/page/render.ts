import type { HealEntry, ReconcileEntry } from '../history.js';
import type { HostView } from '../host-states.js';
import type { DaemonStatus, ReplicaView } from '../status.js';
import { PAGE_SCRIPT, PAGE_STYLE } from './assets.js';

/**
 * The status page: `/status` as HTML, rendered on the server (the live stream sends the same
 * fragment again on each change). Every value from the state, the spec or an engine passes
 * through `escapeHtml`: a service, a host or an error message is text, never markup.
 */

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text made safe for an element's content and for a quoted attribute value. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (char) => ENTITIES[char] ?? char);
}

/** The whole page: the fragment inside a document that needs nothing from the network. */
export function renderPage(status: DaemonStatus): string {
  const title = status.stack === null ? 'heal' : `heal · ${status.stack}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><span id="live" data-live="connecting">connecting…</span></header>
<main id="view">${renderView(status)}</main>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** What the page shows, as the fragment the live stream replaces. */
export function renderView(status: DaemonStatus): string {
  return [
    summary(status),
    services(status),
    grid(status),
    section('Recent heals', 'heals', healsTable(status.heals)),
    section('Last reconciles', 'reconciles', reconcilesTable(status.reconciles)),
  ].join('\n');
}

function summary(status: DaemonStatus): string {
  const last = status.lastReconcile;
  const rows: [string, string][] = [
    ['source', escapeHtml(status.source)],
    ['desired revision', revision(status.desiredRevision)],
    ['applied revision', revision(status.appliedRevision)],
  ];
  if (status.revision !== status.appliedRevision) rows.push(['in force', revision(status.revision)]);
  rows.push([
    'last reconcile',
    last === null
      ? 'none yet'
      : `${outcome(last.outcome)} at ${time(last.at)} in ${duration(last.ms)}${last.message ? ` · ${escapeHtml(last.message)}` : ''}`,
  ]);
  const alerts = [
    status.specError === null
      ? ''
      : `<p class="alert" data-alert="spec">spec rejected: ${escapeHtml(status.specError)}</p>`,
    status.partitioned
      ? '<p class="alert" data-alert="partitioned">more than half of the hosts are silent: heal assumes its own network is at fault and moves nothing</p>'
      : '',
    ...status.waitingOn.map(
      (call) =>
        `<p class="alert" data-alert="waiting">waiting ${escapeHtml(call.seconds)} s on ${escapeHtml(call.host)}: ${escapeHtml(call.operation)}</p>`,
    ),
  ].join('');
  const list = rows.map(([key, value]) => `<dt>${key}</dt><dd>${value}</dd>`).join('');
  return `<section id="summary">${alerts}<dl>${list}</dl></section>`;
}

function services(status: DaemonStatus): string {
  if (status.services.length === 0)
    return section('Services', 'services', '<p class="none">no service observed yet</p>');
  const rows = status.services.map((row) => {
    const flight = status.inFlight?.services.includes(row.service) ? status.inFlight : null;
    const rollout = [
      flight ? `<span class="badge busy">${escapeHtml(flight.batch)}</span>` : '',
      row.rollout
        ? `<span class="badge bad">${escapeHtml(row.rollout.state)}</span> ${escapeHtml(row.rollout.reason)}`
        : '',
      row.crashLooping ? '<span class="badge bad">crash-looping</span>' : '',
      row.dirty > 0 ? `<span class="badge warn">${escapeHtml(row.dirty)} dirty</span>` : '',
      row.autoscale
        ? `<span class="badge">autoscaled ${escapeHtml(row.autoscale.min)}–${escapeHtml(row.autoscale.max)}</span> ${escapeHtml(row.autoscale.reason ?? `starts at ${row.autoscale.start}`)}`
        : '',
    ].join(' ');
    const desired = row.desired ?? 'global';
    const ok = row.desired === null ? row.healthy === row.running : row.healthy === row.desired;
    return `<tr data-service="${escapeHtml(row.service)}" class="${ok ? 'ok' : 'short'}"><td>${escapeHtml(row.service)}</td><td>${escapeHtml(desired)}</td><td>${escapeHtml(row.running)}</td><td data-healthy>${escapeHtml(row.healthy)}</td><td class="mono">${escapeHtml(row.image)}</td><td>${rollout.trim() || '—'}</td></tr>`;
  });
  return section(
    'Services',
    'services',
    `<table><thead><tr><th>service</th><th>desired</th><th>running</th><th>healthy</th><th>image</th><th>rollout</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
  );
}

/** Hosts across, services down, each replica a cell: where everything runs and how it is. */
function grid(status: DaemonStatus): string {
  const hosts = status.hosts.length > 0 ? status.hosts : uniqueHosts(status.replicas);
  if (hosts.length === 0) return section('Replicas', 'grid', '<p class="none">no host observed yet</p>');
  const names = [
    ...new Set([...status.services.map((row) => row.service), ...status.replicas.map((r) => r.service)]),
  ];
  const head = hosts
    .map(
      (host) =>
        `<th data-host="${escapeHtml(host.name)}" data-host-state="${escapeHtml(host.state)}">${escapeHtml(host.name)} <span class="badge ${host.state === 'up' ? 'good' : 'bad'}">${escapeHtml(host.state)}</span>${standing(status, host.name)}${host.error ? `<div class="why">${escapeHtml(host.error)}</div>` : ''}</th>`,
    )
    .join('');
  const rows = names.map((service) => {
    const cells = hosts.map((host) => {
      const here = status.replicas.filter((r) => r.service === service && r.host === host.name);
      return `<td>${here.map(replica).join('') || '<span class="none">·</span>'}</td>`;
    });
    return `<tr><th>${escapeHtml(service)}</th>${cells.join('')}</tr>`;
  });
  return section(
    'Replicas',
    'grid',
    `<table><thead><tr><th></th>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`,
  );
}

/** A host that is paused or draining, with why (`x-heal.conditions`, the spec, `heal hosts`). */
function standing(status: DaemonStatus, host: string): string {
  const item = status.availability?.find((view) => view.host === host);
  if (!item || item.availability === 'active') return '';
  const label = item.draining
    ? 'draining'
    : item.availability === 'drain'
      ? 'cordoned (drain waits)'
      : 'cordoned';
  return ` <span class="badge bad" data-availability="${escapeHtml(item.availability)}">${label}</span><div class="why">${escapeHtml(item.reason ?? '')}</div>`;
}

function replica(r: ReplicaView): string {
  const tone =
    r.state !== 'running'
      ? 'bad'
      : r.health === 'unhealthy'
        ? 'bad'
        : r.health === 'starting'
          ? 'warn'
          : 'good';
  const health = r.health === 'none' ? '' : ` ${r.health}`;
  return `<span class="replica ${tone}" title="${escapeHtml(r.name)}" data-replica="${escapeHtml(`${r.service}.${r.slot}`)}" data-host="${escapeHtml(r.host)}" data-state="${escapeHtml(r.state)}" data-health="${escapeHtml(r.health)}">${escapeHtml(`${r.service}.${r.slot}`)} <small>${escapeHtml(`${r.state}${health}${r.dirty ? ' dirty' : ''}`)}</small></span>`;
}

function healsTable(heals: readonly HealEntry[]): string {
  if (heals.length === 0) return '<p class="none">no heal yet</p>';
  const rows = heals.map(
    (heal) =>
      `<tr data-heal="${escapeHtml(heal.cause)}"><td>${time(heal.at)}</td><td>${escapeHtml(heal.service === null ? '' : `${heal.service}.${heal.slot ?? ''}`)} on ${escapeHtml(heal.host)}</td><td>${escapeHtml(heal.cause)}: ${escapeHtml(heal.broke)}</td><td>${escapeHtml(heal.did)}</td><td>${heal.tookMs === null ? duration(heal.actionMs) : duration(heal.tookMs)}</td></tr>`,
  );
  return `<table><thead><tr><th>at</th><th>replica</th><th>what broke</th><th>what heal did</th><th>took</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function reconcilesTable(reconciles: readonly ReconcileEntry[]): string {
  if (reconciles.length === 0) return '<p class="none">no reconcile yet</p>';
  const rows = reconciles.map(
    (entry) =>
      `<tr data-outcome="${escapeHtml(entry.outcome)}"><td>${time(entry.at)}</td><td>${outcome(entry.outcome)}</td><td>${duration(entry.ms)}</td><td>${escapeHtml(entry.actions)}${entry.failed > 0 ? ` (${escapeHtml(entry.failed)} failed)` : ''}</td><td>${revision(entry.revision)}</td><td>${escapeHtml(entry.message ?? '')}</td></tr>`,
  );
  return `<table><thead><tr><th>at</th><th>outcome</th><th>took</th><th>actions</th><th>revision</th><th>message</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function section(title: string, id: string, body: string): string {
  return `<section id="${id}"><h2>${title}</h2>${body}</section>`;
}

function uniqueHosts(replicas: readonly ReplicaView[]): HostView[] {
  return [...new Set(replicas.map((r) => r.host))].map((name) => ({
    name,
    state: 'up',
    since: 0,
    error: null,
  }));
}

function outcome(value: string): string {
  const tone = value === 'converged' ? 'good' : value === 'applying' || value === 'waiting' ? 'busy' : 'bad';
  return `<span class="badge ${tone}">${escapeHtml(value.replace('_', ' '))}</span>`;
}

function revision(value: string | null): string {
  if (value === null) return '<span class="none">none (a file)</span>';
  return `<span class="mono" title="${escapeHtml(value)}">${escapeHtml(value.slice(0, 12))}</span>`;
}

/** `23:59:01 UTC` from an ISO time. */
function time(iso: string): string {
  return `<time datetime="${escapeHtml(iso)}">${escapeHtml(iso.slice(11, 19))} UTC</time>`;
}

function duration(ms: number): string {
  return escapeHtml(ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
}
