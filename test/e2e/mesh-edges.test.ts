/**
 * The routing mesh's protocol edges on the test bed, with one deploy shared by every check:
 * - HTTP (`app_protocol: http`): the client's address reaches the replica as X-Forwarded-For;
 * - TCP with `x-proxy-protocol: v1` and `v2`: the replica reads the PROXY header naming the client;
 * - h3 reached through a second sshd of its own that forbids stream-local forwarding: heal reaches
 *   its engine through `docker system dial-stdio` and changes its proxies by config and reload;
 * - `x-heal.mesh.socket_gid`: the runtime socket's group;
 * - a port switched from `mode: host` to the mesh and back, each in one apply;
 * - a mesh image the registry lacks: a clear error, and no container made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerOn, ensureTestbed, type TestbedEnv } from '../testbed.js';
import { cleanStack, containersOn, containersOnAll, heal, waitFor, type Run } from './helpers.js';

const STACK = 'e2eedges';
const MISSING = 'e2eedgesmiss';
const HOSTS = ['h1', 'h2', 'h3'] as const;
/** Ports no other test publishes. */
const HTTP_PORT = 18181;
const V1_PORT = 18191;
const V2_PORT = 18192;
const SWITCH_PORT = 18195;
/** h3's second sshd: AllowStreamLocalForwarding no. */
const NO_FORWARD_PORT = 2222;
const GID = 4242;

let env: TestbedEnv;
let work: string;
let spec: string;
let sshd: ChildProcess | undefined;

const run = (...args: string[]): Promise<Run> => heal(work, ...args, '-f', spec);

/**
 * `heal apply --yes`, again if it found a host unreachable: h3's second sshd, on a machine whose
 * two cores run three engines, now and then misses a one-shot command's connect deadline, and a
 * plan that saw h3 down places its replicas elsewhere (as it should), which is not what the test
 * is about. Any other output fails the test as before.
 */
async function applySeeingEveryHost(): Promise<Run> {
  let applied = await run('apply', '--yes');
  for (let again = 0; again < 2 && / is unreachable \(/.test(applied.stdout + applied.stderr); again += 1) {
    console.warn(`apply missed a host, applying again:\n${applied.stdout}${applied.stderr}`);
    applied = await run('apply', '--yes');
  }
  return applied;
}

/** `heal plan --json`, again if it found a host unreachable (as `applySeeingEveryHost`). */
async function planSeeingEveryHost(): Promise<Run> {
  let planned = await run('plan', '--json');
  for (let again = 0; again < 2 && / is unreachable \(/.test(planned.stdout); again += 1)
    planned = await run('plan', '--json');
  return planned;
}

/** The stack; `switchMode`: how `sw` publishes its port. */
function specText(switchMode: 'host' | 'ingress', webReplicas: number): string {
  const h3 = env.hosts.find((host) => host.name === 'h3')!;
  return [
    `name: ${STACK}`,
    'x-heal:',
    `  ssh: { identity_file: ${env.identityFile}, known_hosts: ${join(work, 'known_hosts')} }`,
    `  mesh: { image: ${env.images.proxy}, drain_timeout: 5s, socket_gid: ${GID} }`,
    '  hosts:',
    ...env.hosts.filter((host) => host.name !== 'h3').map((host) => `    ${host.name}: { ssh: ${host.ssh} }`),
    `    h3: { ssh: "root@${h3.address}:${NO_FORWARD_PORT}" }`,
    'configs:',
    '  xff: { file: ./xff.cgi }',
    '  pp1: { file: ./pp1.sh }',
    '  pp2: { file: ./pp2.sh }',
    'services:',
    '  web:',
    `    image: ${env.images.web1}`,
    `    ports: [{ target: 8080, published: ${HTTP_PORT}, app_protocol: http }]`,
    '    configs: [{ source: xff, target: /www/cgi-bin/xff, mode: "0755" }]',
    "    healthcheck: { test: ['CMD', 'wget', '-qO-', 'localhost:8080/health'], interval: 1s, retries: 2 }",
    '    stop_grace_period: 2s',
    `    deploy: { replicas: ${webReplicas} }`,
    '  pp:',
    `    image: ${env.images.web1}`,
    '    command: ["sh", "-c", "nc -ll -p 9001 -e /pp1 & nc -ll -p 9002 -e /pp2 & trap \'exit 0\' TERM; wait"]',
    '    configs:',
    '      - { source: pp1, target: /pp1, mode: "0755" }',
    '      - { source: pp2, target: /pp2, mode: "0755" }',
    '    ports:',
    `      - { target: 9001, published: ${V1_PORT}, x-proxy-protocol: v1 }`,
    `      - { target: 9002, published: ${V2_PORT}, x-proxy-protocol: v2 }`,
    '    deploy: { replicas: 1, placement: { constraints: ["node.hostname == h1"] } }',
    '  sw:',
    `    image: ${env.images.web1}`,
    `    ports: [{ target: 8080, published: ${SWITCH_PORT}, mode: ${switchMode} }]`,
    '    stop_grace_period: 2s',
    // monitor 1s, not Swarm's 5s: each switch is a rollout that waits out its last window for nothing.
    '    deploy:',
    '      replicas: 2',
    '      placement: { constraints: ["node.hostname != h3"] }',
    '      update_config: { monitor: 1s }',
    '',
  ].join('\n');
}

/** One GET, bounded by 3 s: status and body, and the address the request left from. */
function fetchText(url: string): Promise<{ text: string; from: string }> {
  return new Promise((resolve) => {
    let from = '';
    const request = get(url, { timeout: 3000, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ text: `${response.statusCode ?? 0} ${body.trim()}`, from }));
    });
    request.on('socket', (socket) => socket.on('connect', () => (from = socket.localAddress ?? '')));
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error) => resolve({ text: `error ${error.message}`, from }));
  });
}

/** Connects, sends nothing, and reads until the other side closes, or `enough` (at most 4 s). */
function tcpAnswer(
  address: string,
  port: number,
  enough: (data: Buffer) => boolean = () => false,
): Promise<{ data: Buffer; from: string; fromPort: number }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: address, port });
    let from = '';
    let fromPort = 0;
    const done = (): void => {
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), from, fromPort });
    };
    socket.setTimeout(4000, done);
    socket.on('connect', () => {
      from = socket.localAddress ?? '';
      fromPort = socket.localPort ?? 0;
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (enough(Buffer.concat(chunks))) done();
    });
    socket.on('end', done);
    socket.on('error', done);
  });
}

/** Starts h3's second sshd, in h3's namespaces, forbidding stream-local forwarding. */
async function startNoForwardSshd(): Promise<void> {
  const h3 = env.hosts.find((host) => host.name === 'h3')!;
  const folder = dirname(h3.socket);
  const init = readFileSync(join(folder, 'init.pid'), 'utf8').trim();
  const config = readFileSync(join(folder, 'sshd_config'), 'utf8')
    .replace(/^Port .*$/m, `Port ${NO_FORWARD_PORT}`)
    .replace(/^PidFile .*$/m, `PidFile ${join(work, 'sshd.pid')}`)
    .replace(/^AllowStreamLocalForwarding .*$/m, 'AllowStreamLocalForwarding no');
  expect(config).toContain('AllowStreamLocalForwarding no');
  writeFileSync(join(work, 'sshd_config'), config);
  const hostKey = readFileSync(env.knownHosts, 'utf8')
    .split('\n')
    .find((line) => line.startsWith(`${h3.address} `))!;
  writeFileSync(
    join(work, 'known_hosts'),
    `${readFileSync(env.knownHosts, 'utf8').trimEnd()}\n[${h3.address}]:${NO_FORWARD_PORT} ${hostKey.split(' ').slice(1).join(' ')}\n`,
  );
  sshd = spawn(
    'nsenter',
    ['--target', init, '--net', '--mount', '--uts', '/usr/sbin/sshd', '-D', '-f', join(work, 'sshd_config')],
    { stdio: 'ignore' },
  );
  await waitFor('the second sshd of h3 to answer', 10_000, async () =>
    (await tcpAnswer(h3.address, NO_FORWARD_PORT, (data) => data.includes('\n'))).data
      .toString()
      .startsWith('SSH-')
      ? true
      : undefined,
  );
}

beforeAll(async () => {
  env = await ensureTestbed(3);
  work = mkdtempSync(join(tmpdir(), 'heal-e2e-mesh-edges-'));
  spec = join(work, 'stack.yml');
  writeFileSync(
    join(work, 'xff.cgi'),
    '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\necho "xff=$HTTP_X_FORWARDED_FOR on $(hostname)"\n',
  );
  // v1: the header is one line. v2: 16 bytes, the last two the length of the addresses that follow.
  writeFileSync(join(work, 'pp1.sh'), '#!/bin/sh\nread -r line\necho "$line"\n');
  writeFileSync(
    join(work, 'pp2.sh'),
    [
      '#!/bin/sh',
      'h=$(dd bs=1 count=16 2>/dev/null | hexdump -v -e \'1/1 "%02x"\')',
      'n=$(( 0x$(echo "$h" | cut -c29-32) ))',
      'b=$(dd bs=1 count=$n 2>/dev/null | hexdump -v -e \'1/1 "%02x"\')',
      'echo "$h$b"',
      '',
    ].join('\n'),
  );
  await Promise.all([cleanStack(HOSTS, STACK), cleanStack(HOSTS, MISSING)]);
  await startNoForwardSshd();
}, 120_000);

afterAll(async () => {
  if (env) await Promise.all([cleanStack(HOSTS, STACK), cleanStack(HOSTS, MISSING)]);
  if (sshd?.pid !== undefined) sshd.kill('SIGTERM');
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('the routing mesh at its edges', () => {
  it('carries the client to HTTP and PROXY-protocol replicas, on a host heal changes by reloads', async () => {
    writeFileSync(spec, specText('host', 2));
    const applied = await applySeeingEveryHost();
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);

    // HTTP: every host, h3 too (its proxy got its members by reload), names the client.
    for (const host of env.hosts) {
      for (let index = 0; index < 2; index += 1) {
        const answer = await fetchText(`http://${host.address}:${HTTP_PORT}/cgi-bin/xff`);
        expect(answer.text, host.name).toMatch(
          new RegExp(`^200 xff=${answer.from.replace(/\./g, '\\.')} on `),
        );
      }
    }

    // PROXY v1 and v2, through h2 and h3 to the replica on h1: the header names this client's address and port.
    for (const host of env.hosts.filter((item) => item.name !== 'h1')) {
      const v1 = await tcpAnswer(host.address, V1_PORT);
      expect(v1.data.toString().trim(), host.name).toMatch(
        new RegExp(`^PROXY TCP4 ${v1.from.replace(/\./g, '\\.')} \\S+ ${v1.fromPort} \\d+$`),
      );
      const v2 = await tcpAnswer(host.address, V2_PORT);
      const hex = v2.data.toString().trim();
      // Signature, version 2 PROXY, TCP over IPv4, 12 bytes of addresses.
      expect(hex.slice(0, 32), host.name).toBe('0d0a0d0a000d0a515549540a2111000c');
      const source = [0, 1, 2, 3]
        .map((byte) => parseInt(hex.slice(32 + byte * 2, 34 + byte * 2), 16))
        .join('.');
      expect(source).toBe(v2.from);
      expect(parseInt(hex.slice(48, 52), 16)).toBe(v2.fromPort);
    }

    // h3 is reached without stream-local forwarding, and its proxies run master-worker.
    const h3Proxy = (await containersOn('h3', `name=^${STACK}-web-mesh$`))[0]!;
    const processes = await dockerOn('h3', 'top', h3Proxy.id);
    // The master, and a worker it started on a reload (`-sf OLD`): h3's members came by reloads.
    expect(processes).toMatch(/haproxy -W -db -f /);
    expect(processes).toMatch(/haproxy -sf \d+ .*-W -db -f /);
    expect(readFileSync(join(work, 'sshd_config'), 'utf8')).toContain('AllowStreamLocalForwarding no');

    // socket_gid: the runtime socket is the group's too.
    const h1Proxy = (await containersOn('h1', `name=^${STACK}-web-mesh$`))[0]!;
    const listing = await dockerOn('h1', 'exec', h1Proxy.id, 'ls', '-ln', '/run/heal/admin.sock');
    expect(listing).toMatch(new RegExp(`^srw-rw----\\s+\\d+\\s+0\\s+${GID}\\s`));

    // Planned again, nothing to do: h3's proxies are read from their files, and hold every replica.
    const again = await planSeeingEveryHost();
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { actions: { kind: string }[] }).actions).toEqual([]);
  });

  it('switches a port from mode host to the mesh and back, each in one apply, and reloads h3 for a new replica', async () => {
    writeFileSync(spec, specText('ingress', 3));
    const toMesh = await applySeeingEveryHost();
    expect(toMesh.stderr).toBe('');
    expect(toMesh.code).toBe(0);
    for (const host of env.hosts) {
      const answer = await fetchText(`http://${host.address}:${SWITCH_PORT}/host`);
      expect(answer.text, host.name).toMatch(/^200 /);
    }
    expect(await containersOnAll(HOSTS, `name=^${STACK}-sw-mesh$`)).toHaveLength(3);
    // The third replica of web answers through h3's proxy, reloaded: 3 replicas in 9 requests.
    const seen = new Set<string>();
    for (let index = 0; index < 9; index += 1)
      seen.add((await fetchText(`http://${env.hosts[2]!.address}:${HTTP_PORT}/cgi-bin/xff`)).text);
    expect(seen.size).toBe(3);
    const planned = await planSeeingEveryHost();
    expect((JSON.parse(planned.stdout) as { actions: unknown[] }).actions).toEqual([]);

    writeFileSync(spec, specText('host', 3));
    const toHost = await applySeeingEveryHost();
    expect(toHost.stderr).toBe('');
    expect(toHost.code).toBe(0);
    expect(await containersOnAll(HOSTS, `name=^${STACK}-sw-mesh$`)).toEqual([]);
    const replicas = await containersOnAll(['h1', 'h2'], `label=io.heal.service=sw`);
    expect(replicas.map((item) => item.host).sort()).toEqual(['h1', 'h2']);
    for (const host of env.hosts.filter((item) => item.name !== 'h3')) {
      const answer = await fetchText(`http://${host.address}:${SWITCH_PORT}/host`);
      expect(answer.text, host.name).toMatch(/^200 /);
    }
  });

  it('takes the mesh stack down without a warning: proxies go first, and replicas removed after them have none to leave', async () => {
    const down = await run('down', '--yes');
    expect(down.code).toBe(0);
    expect(down.stdout + down.stderr).not.toMatch(/warning/i);
    expect(await containersOnAll(HOSTS, `label=io.heal.stack=${STACK}`)).toEqual([]);
  });

  it('refuses to make anything of a mesh service whose proxy image the registry lacks, naming image and host', async () => {
    const image = `${env.registry}/heal-no-such-mesh:1`;
    const missing = join(work, 'missing.yml');
    writeFileSync(
      missing,
      [
        `name: ${MISSING}`,
        'x-heal:',
        `  ssh: { identity_file: ${env.identityFile}, known_hosts: ${env.knownHosts} }`,
        `  mesh: { image: ${image} }`,
        '  hosts:',
        `    h1: { ssh: ${env.hosts[0]!.ssh} }`,
        'services:',
        '  web:',
        `    image: ${env.images.web1}`,
        '    ports: ["18199:8080"]',
        '',
      ].join('\n'),
    );
    const applied = await heal(work, 'apply', '--yes', '-f', missing);
    expect(applied.code).toBe(1);
    const output = applied.stdout + applied.stderr;
    expect(output).toContain(`the mesh image ${image} could not be pulled on h1`);
    expect(output).toContain("web's replicas there wait for its proxy");
    expect(await containersOn('h1', `label=io.heal.stack=${MISSING}`)).toEqual([]);
  });
});
