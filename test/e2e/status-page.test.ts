/**
 * The status page in a real browser: Debian's chromium, headless, driven by playwright-core,
 * looking at `heal watch` on the test bed's three hosts. A replica is killed with `docker kill`;
 * the test asserts what a person sees change through the live stream, with no reload: the
 * replica down, then healed, and the heal listed. The screenshot is kept in test-artifacts/.
 * Chromium comes from Debian (.ci/run installs it); without it the test fails, saying so.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bedSpecHead, ensureTestbed, type TestbedEnv } from '../testbed.js';
import {
  dockerAt,
  freePort,
  GitRemote,
  killStartedWatches,
  replicasOn,
  startWatch,
  statusOf,
  until,
  type Watch,
} from './watch-helpers.js';

const STACK = 'e2epage';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const CHROMIUM = process.env.HEAL_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;

let env: TestbedEnv;
let root: string;
let port: number;
let daemon: Watch | null = null;
let browser: Browser | null = null;

function specText(): string {
  return [
    ...bedSpecHead(env, STACK, ['  watch: { interval: 10s, host_down_after: 5s }']),
    'services:',
    '  web:',
    `    image: ${env.images.web1}`,
    '    healthcheck: { test: ["CMD-SHELL", "true"], interval: 1s, timeout: 2s, retries: 1 }',
    '    deploy: { replicas: 3 }',
    '',
  ].join('\n');
}

async function cleanHosts(): Promise<void> {
  for (const host of HOSTS) {
    const lines = (text: string): string[] => text.split('\n').filter(Boolean);
    const ids = lines(await dockerAt(env, host, ['ps', '-aq', '--filter', `label=io.heal.stack=${STACK}`]));
    const lock = lines(await dockerAt(env, host, ['ps', '-aq', '--filter', `name=^heal-lock-${STACK}$`]));
    if (ids.length + lock.length > 0) await dockerAt(env, host, ['rm', '-f', '-v', ...ids, ...lock]);
    const networks = lines(
      await dockerAt(env, host, ['network', 'ls', '-q', '--filter', `label=io.heal.stack=${STACK}`]),
    );
    if (networks.length > 0) await dockerAt(env, host, ['network', 'rm', ...networks]);
  }
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium; .ci/run does) or set HEAL_CHROMIUM`,
    );
  env = await ensureTestbed(3);
  await cleanHosts();
  root = mkdtempSync(join(tmpdir(), 'heal-e2e-page-'));
  const remote = await GitRemote.create(root);
  await remote.push(specText(), 'three web replicas');
  port = await freePort();
  daemon = startWatch(
    root,
    [
      ...['--repo', remote.bare, '--ref', 'main', '--path', 'stack.yml', '--log-level', 'info'],
      ...['--allow-ssh', dirname(env.identityFile)],
    ],
    port,
    { XDG_CACHE_HOME: join(root, 'cache') },
  );
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 60_000 });
});

afterAll(async () => {
  await browser?.close();
  daemon?.signal('SIGTERM');
  if (daemon) await Promise.race([daemon.exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  killStartedWatches();
  // Without chromium, beforeAll stopped before the test bed was reached.
  if (env) await cleanHosts();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** The replicas as the page's grid shows them: `web.2@h2 running healthy`, sorted. */
function grid(page: Page): Promise<string[]> {
  return page.evaluate(`[...document.querySelectorAll('[data-replica]')]
    .map((cell) => cell.dataset.replica + '@' + cell.dataset.host + ' ' + cell.dataset.state + ' ' + cell.dataset.health)
    .sort()`);
}

/** Browser-side (this project's TypeScript has no DOM types): the states the cell `selector` shows, as they change. */
const RECORD_STATES = (selector: string): string => `(() => {
  const seen = (window.seen = []);
  const note = () => {
    const found = document.querySelector(${JSON.stringify(selector)});
    const now = found ? found.dataset.state + ' ' + found.dataset.health : 'absent';
    if (seen[seen.length - 1] !== now) seen.push(now);
  };
  note();
  new MutationObserver(note).observe(document.getElementById('view'), { childList: true, subtree: true });
})()`;

describe('the status page in chromium', () => {
  it('shows a killed replica go down, come back, and the heal listed, live, without a reload', async () => {
    const started = Date.now();
    await until('three healthy replicas on /status', 90_000, async () => {
      const status = await statusOf(port);
      const web = status.services.find((row) => row.service === 'web');
      return status.lastReconcile?.outcome === 'converged' && web?.healthy === 3 ? status : undefined;
    });
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    let loads = 0;
    page.on('load', () => (loads += 1));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector('#live[data-live="live"]', { timeout: 10_000 });
    expect(await page.title()).toBe(`heal · ${STACK}`);
    const before = await grid(page);
    expect(before.map((cell) => cell.replace(/^web\.\d@/, '')).sort()).toEqual(
      HOSTS.map((host) => `${host} running healthy`),
    );
    expect(await page.textContent('#heals')).toContain('no heal yet');

    // Every state the killed replica's cell shows, as the page renders it.
    const victim = (await replicasOn(env, 'h2', STACK)).find((item) => item.state === 'running')!;
    const cell = `[data-replica="web.${victim.slot}"][data-host="h2"]`;
    await page.evaluate(RECORD_STATES(cell));

    const killed = Date.now();
    await dockerAt(env, 'h2', ['kill', victim.id]);
    await page.waitForSelector(`#heals tr[data-heal="crashed"]`, { timeout: 30_000 });
    // Polled with page.evaluate (DevTools' own evaluation), not waitForFunction: the latter evals
    // its predicate inside the page, which the page's CSP (no 'unsafe-eval') rightly refuses.
    await until('the killed replica running healthy again on the page', 30_000, async () =>
      (await page.evaluate(
        `window.seen.length > 1 && window.seen[window.seen.length - 1] === 'running healthy'`,
      ))
        ? true
        : undefined,
    );
    const healedMs = Date.now() - killed;
    const seen = (await page.evaluate('window.seen')) as string[];
    // Seen running, then down, then running again: the page followed the whole heal by itself.
    expect(seen[0]).toBe('running healthy');
    expect(seen.slice(1, -1).some((state) => state.startsWith('exited'))).toBe(true);
    expect(seen[seen.length - 1]).toBe('running healthy');
    const heal = await page.textContent('#heals tbody tr');
    expect(heal).toContain(`web.${victim.slot} on h2`);
    expect(heal).toContain('crashed: ');
    expect(heal).toContain('restarted');
    expect(await grid(page)).toHaveLength(3);
    expect(loads).toBe(1);

    // The same heal on /status: the page shows its data.
    const status = (await statusOf(port)) as unknown as {
      heals: { service: string; slot: number; host: string }[];
    };
    expect(status.heals[0]).toMatchObject({ service: 'web', slot: Number(victim.slot), host: 'h2' });

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
    console.log(
      `status page: start → converged and open ${((killed - started) / 1000).toFixed(1)} s; kill → healed on the page ${(healedMs / 1000).toFixed(1)} s; states seen: ${seen.join(' → ')}`,
    );
  });
});
