/**
 * The routing mesh on the test bed: 6 replicas of web behind `ports: ["80:8080"]` on 3 hosts,
 * with the test bed's HAProxy image as the proxy (2 per host: more than one per proxy to spread
 * over, and a start-first rollout of more than one batch). Every host answers on port 80 and spreads the
 * requests over the replicas of every host; a container on a host without a replica of web
 * reaches it by its name.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOn, ensureTestbed, type TestbedEnv } from '../testbed.js';
import { cleanStack, containersOn, heal, type Run } from './helpers.js';

const STACK = 'e2emesh';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const REPLICAS = 6;

let env: TestbedEnv;
let work: string;
let spec: string;

const run = (...args: string[]): Promise<Run> => heal(work, ...args, '-f', spec);

/** `webOn`: the zones web may run in; the client always runs on h3 (zone b). */
function specText(webZones: string, image = env.images.web1): string {
  return [
    `name: ${STACK}`,
    'x-heal:',
    `  ssh: { identity_file: ${env.identityFile}, known_hosts: ${env.knownHosts} }`,
    `  mesh: { image: ${env.images.proxy}, drain_timeout: 5s }`,
    '  hosts:',
    ...env.hosts.map(
      (host) => `    ${host.name}: { ssh: ${host.ssh}, labels: { zone: ${host.name === 'h3' ? 'b' : 'a'} } }`,
    ),
    'services:',
    '  web:',
    `    image: ${image}`,
    '    ports: ["80:8080"]',
    "    healthcheck: { test: ['CMD', 'wget', '-qO-', 'localhost:8080/health'], interval: 1s, retries: 2 }",
    '    stop_grace_period: 2s',
    '    deploy:',
    `      replicas: ${REPLICAS}`,
    '      update_config: { parallelism: 3, order: start-first }',
    `      placement: { constraints: ["node.labels.zone ${webZones}"] }`,
    '  client:',
    `    image: ${env.images.web1}`,
    '    deploy:',
    '      replicas: 1',
    '      placement: { constraints: ["node.hostname == h3"] }',
    '',
  ].join('\n');
}

/** One GET, bounded by 3 s: the body, or the error's message. */
function fetchText(url: string): Promise<string> {
  return new Promise((resolve) => {
    const request = get(url, { timeout: 3000, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(`${response.statusCode ?? 0} ${body.trim()}`));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error) => resolve(`error ${error.message}`));
  });
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-e2e-mesh-'));
  spec = join(work, 'stack.yml');
  await cleanStack(HOSTS, STACK);
}, 120_000);

afterAll(async () => {
  if (env) await cleanStack(HOSTS, STACK);
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('the routing mesh', () => {
  it('answers port 80 on every host, from replicas on every host', async () => {
    writeFileSync(spec, specText('!= none'));
    const applied = await run('apply', '--yes');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    for (const host of HOSTS) {
      const proxies = await containersOn(host, `label=io.heal.role=mesh-proxy`);
      expect(proxies.filter((proxy) => proxy.name === `${STACK}-web-mesh`).length, host).toBe(1);
    }
    // 36 requests, 12 to each host's port 80, one at a time, each bounded: the loop ends by itself.
    const answers: string[] = [];
    const until = Date.now() + 60_000;
    for (let index = 0; index < 36 && Date.now() < until; index += 1) {
      const host = env.hosts[index % env.hosts.length]!;
      answers.push(await fetchText(`http://${host.address}:80/host`));
    }
    expect(answers.filter((answer) => !answer.startsWith('200 '))).toEqual([]);
    for (const host of env.hosts)
      expect(answers.filter((_, index) => env.hosts[index % 3] === host).length).toBe(12);
    // Each proxy spreads its 12 over every replica; 5 of 6 (2 per host) are replicas of all 3 hosts.
    expect(new Set(answers).size).toBeGreaterThanOrEqual(REPLICAS - 1);
    // Planning again finds nothing to do: the proxies hold every replica.
    const again = await run('plan', '--json');
    expect(again.code).toBe(0);
    const actions = (JSON.parse(again.stdout) as { actions: { kind: string }[] }).actions;
    expect(actions.map((action) => action.kind)).toEqual([]);
  });

  it('reaches web by name from a container on a host that runs none of its replicas', async () => {
    writeFileSync(spec, specText('== a'));
    const applied = await run('apply', '--yes');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const onH3 = await containersOn('h3', `label=io.heal.stack=${STACK}`);
    // A proxy has no slot: web's replicas have one.
    expect(onH3.filter((container) => container.service === 'web' && container.slot !== null)).toEqual([]);
    const client = onH3.find((container) => container.service === 'client');
    expect(client).toBeDefined();
    // busybox's own nslookup asks Docker's DNS for the name: one address, web's proxy on h3.
    const lookup = await dockerOn('h3', 'exec', client!.id, 'nslookup', 'web');
    const addresses = [...lookup.matchAll(/Address:\s*(\d+\.\d+\.\d+\.\d+)/g)]
      .map((match) => match[1]!)
      .filter((address) => !address.startsWith('127.'));
    expect(addresses.length, lookup).toBe(1);
    const seen = new Set<string>();
    for (let index = 0; index < 6; index += 1) {
      // Its wget crashes too (exit 139, even on 127.0.0.1): a bare HTTP/1.0 request through nc.
      const request = `printf 'GET /host HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${addresses[0]!} 8080`;
      const reply = await dockerOn('h3', 'exec', client!.id, 'sh', '-c', request);
      expect(reply).toMatch(/^HTTP\/1\.[01] 200/);
      seen.add(reply.trim().split('\n').at(-1)!.trim());
    }
    expect(seen.size).toBeGreaterThanOrEqual(2);
  });

  it(`rolls ${REPLICAS} replicas out start-first under load with no failed request`, async () => {
    writeFileSync(spec, specText('== a', env.images.web2));
    const answers: string[] = [];
    let applying = true;
    // Requests one at a time to every host's port 80 while the apply runs: bounded in count and time.
    const load = (async () => {
      const until = Date.now() + 240_000;
      for (let index = 0; applying && index < 5000 && Date.now() < until; index += 1) {
        const host = env.hosts[index % env.hosts.length]!;
        answers.push(await fetchText(`http://${host.address}:80/host`));
      }
    })();
    const applied = await run('apply', '--yes');
    applying = false;
    await load;
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(answers.length).toBeGreaterThan(30);
    expect(answers.filter((answer) => !answer.startsWith('200 '))).toEqual([]);
    const images = await Promise.all(
      ['h1', 'h2'].map((host) =>
        dockerOn(
          host,
          'ps',
          '--filter',
          `label=io.heal.service=web`,
          '--filter',
          `label=io.heal.slot`,
          '--format',
          '{{.Image}}',
        ),
      ),
    );
    expect(images.join('\n').split('\n').filter(Boolean).sort()).toEqual(
      Array(REPLICAS).fill(env.images.web2),
    );
  });
});
