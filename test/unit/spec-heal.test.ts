import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SpecError } from '../../src/spec/errors.js';
import { loadStack } from '../../src/spec/load.js';
import { parseSshTarget } from '../../src/spec/normalize-heal.js';
import type { HealConfig } from '../../src/spec/types.js';

const folder = mkdtempSync(join(tmpdir(), 'heal-x-heal-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

let loads = 0;

/** Loads a stack with one service and `lines` under `x-heal:` (already indented by two). */
async function load(...lines: string[]) {
  loads += 1;
  const file = `stack-${loads}.yml`;
  writeFileSync(
    join(folder, file),
    ['name: t', 'x-heal:', ...lines, 'services:', '  web: { image: nginx }', ''].join('\n'),
  );
  return loadStack({ file, cwd: folder, environment: {} });
}

async function heal(...lines: string[]): Promise<HealConfig> {
  return (await load(...lines)).heal;
}

/** The printed problems; each begins `stack-N.yml:`, cut here so the expectations read plainly. */
async function problems(...lines: string[]): Promise<string[]> {
  const outcome = await load(...lines).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(SpecError);
  return (outcome as SpecError).message.split('\n').map((line) => line.replace(/^stack-\d+\.yml:/, ''));
}

describe('x-heal', () => {
  it('is optional, with every default', async () => {
    writeFileSync(join(folder, 'plain.yml'), 'name: t\nservices:\n  web: { image: nginx }\n');
    const stack = await loadStack({ file: 'plain.yml', cwd: folder, environment: {} });
    expect(stack.heal).toEqual({
      ssh: { user: null, port: null, identityFile: null, knownHosts: null },
      hosts: {},
      watch: { interval: 15_000, hostDownAfter: 4_000, rebalance: false },
      timeouts: { readMs: 5_000, writeMs: 30_000, pullMs: 600_000 },
      lock: { hosts: null },
      mesh: {
        image: 'haproxy:2.8-alpine',
        drainTimeout: 30_000,
        socketGid: null,
        check: { interval: 1_000, fall: 2, rise: 1 },
      },
      build: { host: null },
    });
  });

  it('reads ssh and docker hosts in every form', async () => {
    const config = await heal(
      '  hosts:',
      '    h1: { ssh: 10.0.0.11, labels: { zone: a } }',
      '    h2: { ssh: deploy@10.0.0.12:2222, labels: [zone=b, ssd] }',
      '    h3: { ssh: "root@[2001:db8::1]:2200" }',
      '    h4: { ssh: "[fe80::1]" }',
      '    h5: { ssh: "2001:db8::5" }',
      '    h6: { ssh: host.example.com, socket: /run/user/1000/docker.sock, identity_file: keys/h6 }',
      '    laptop: { docker: unix:///var/run/docker.sock }',
      '    remote: { docker: tcp://10.0.0.20:2375, labels: { zone: c }, role: worker }',
    );
    const ssh = {
      kind: 'ssh',
      identityFile: null,
      socket: '/var/run/docker.sock',
      labels: {},
      role: 'manager',
    } as const;
    expect(config.hosts).toEqual({
      h1: {
        ...ssh,
        name: 'h1',
        user: null,
        address: '10.0.0.11',
        port: null,
        labels: { zone: 'a' },
        internalAddress: '10.0.0.11',
      },
      h2: {
        ...ssh,
        name: 'h2',
        user: 'deploy',
        address: '10.0.0.12',
        port: 2222,
        labels: { zone: 'b', ssd: '' },
        internalAddress: '10.0.0.12',
      },
      h3: {
        ...ssh,
        name: 'h3',
        user: 'root',
        address: '2001:db8::1',
        port: 2200,
        internalAddress: '2001:db8::1',
      },
      h4: { ...ssh, name: 'h4', user: null, address: 'fe80::1', port: null, internalAddress: 'fe80::1' },
      h5: {
        ...ssh,
        name: 'h5',
        user: null,
        address: '2001:db8::5',
        port: null,
        internalAddress: '2001:db8::5',
      },
      h6: {
        ...ssh,
        name: 'h6',
        user: null,
        address: 'host.example.com',
        port: null,
        socket: '/run/user/1000/docker.sock',
        identityFile: join(folder, 'keys/h6'),
        internalAddress: null,
      },
      laptop: {
        name: 'laptop',
        kind: 'docker',
        url: 'unix:///var/run/docker.sock',
        labels: {},
        role: 'manager',
        internalAddress: null,
      },
      remote: {
        name: 'remote',
        kind: 'docker',
        url: 'tcp://10.0.0.20:2375',
        labels: { zone: 'c' },
        role: 'worker',
        internalAddress: null,
      },
    });
  });

  it('reads ssh defaults, expanding ~ to the home folder', async () => {
    const config = await heal(
      '  ssh: { user: root, port: 2222, identity_file: ~/.ssh/id_ed25519, known_hosts: ./known_hosts }',
    );
    expect(config.ssh).toEqual({
      user: 'root',
      port: 2222,
      identityFile: join(homedir(), '.ssh/id_ed25519'),
      knownHosts: join(folder, 'known_hosts'),
    });
    expect((await heal('  ssh: { identity_file: "~" }')).ssh.identityFile).toBe(homedir());
  });

  it('reads watch durations', async () => {
    expect(
      (await heal('  watch: { interval: 1m30s, host_down_after: 2500ms, rebalance: true }')).watch,
    ).toEqual({
      interval: 90_000,
      hostDownAfter: 2_500,
      rebalance: true,
    });
    expect(await problems('  watch: { host_down_after: 500ms }')).toEqual([
      '3:29 x-heal.watch.host_down_after: must be at least 2s: heal asks each host every second, and a blip would move its replicas',
    ]);
  });

  it('reads timeouts, and refuses one of zero', async () => {
    expect((await heal('  timeouts: { read: 2s, write: 1m, pull: 30m }')).timeouts).toEqual({
      readMs: 2_000,
      writeMs: 60_000,
      pullMs: 1_800_000,
    });
    expect(await problems('  timeouts: { read: 0s, wait: 1s }')).toEqual([
      '3:21 x-heal.timeouts.read: must be longer than 0s',
      '3:25 x-heal.timeouts.wait: unknown key "wait" (did you mean "write"?)',
    ]);
  });

  it('reads the lock hosts, and refuses one that is not a host or is a local engine', async () => {
    expect(
      (
        await heal(
          '  hosts:',
          '    h1: { ssh: h1 }',
          '    h2: { ssh: h2 }',
          '    h3: { ssh: h3 }',
          '  lock: { hosts: [h3, h1] }',
        )
      ).lock,
    ).toEqual({ hosts: ['h1', 'h3'] });
    expect(
      await problems(
        '  hosts:',
        '    h1: { ssh: h1 }',
        '    me: { docker: "unix:///var/run/docker.sock" }',
        '  lock: { hosts: [h1, h9, me] }',
      ),
    ).toEqual([
      '6:23 x-heal.lock.hosts[1]: h9 is not a host of x-heal.hosts',
      "6:27 x-heal.lock.hosts[2]: me is a local engine, each machine's own: it cannot hold a lock every heal sees",
    ]);
  });

  it('refuses unknown keys at every level', async () => {
    expect(
      await problems(
        '  host: {}',
        '  ssh: { usr: root }',
        '  watch: { intervall: 5s }',
        '  hosts:',
        '    h1: { ssh: h1, label: { zone: a } }',
      ),
    ).toEqual([
      '3:3 x-heal.host: unknown key "host" (did you mean "hosts"?)',
      '4:10 x-heal.ssh.usr: unknown key "usr" (did you mean "user"?)',
      '5:12 x-heal.watch.intervall: unknown key "intervall" (did you mean "interval"?)',
      '7:20 x-heal.hosts.h1.label: unknown key "label" (did you mean "labels"?)',
    ]);
  });

  it('refuses hosts it cannot reach', async () => {
    expect(
      await problems(
        '  hosts:',
        '    "bad name": { ssh: h }',
        '    a: { ssh: "u@h:99999" }',
        '    b: { docker: "http://10.0.0.1" }',
        '    c: { ssh: h, docker: "unix:///x.sock" }',
        '    d: { labels: {} }',
        '    e: { docker: "unix:///x.sock", socket: /y.sock }',
        '    f: { ssh: h, socket: docker.sock }',
        '    g:',
        '    h: { ssh: "h:abc" }',
      ),
    ).toEqual([
      '4:5 x-heal.hosts["bad name"]: "bad name" is not a host name: use letters, digits, "_", "." and "-"',
      '5:15 x-heal.hosts.a.ssh: "u@h:99999" is not an SSH address: use [user@]address[:port]',
      '6:18 x-heal.hosts.b.docker: "http://10.0.0.1" is not an engine address: use unix:///path/to/docker.sock or tcp://host:port',
      '7:8 x-heal.hosts.c: has both `ssh:` and `docker:`: keep one',
      '8:5 x-heal.hosts.d: needs `ssh: [user@]address[:port]` or `docker: unix:///path`',
      '9:36 x-heal.hosts.e.socket: applies to `ssh:` hosts only',
      '10:26 x-heal.hosts.f.socket: "docker.sock" must be an absolute path on the host',
      '11:7 x-heal.hosts.g: must be a mapping, not empty',
      '12:15 x-heal.hosts.h.ssh: "h:abc" is not an SSH address: use [user@]address[:port]',
    ]);
  });

  it('refuses wrong types', async () => {
    expect(await problems('  - h1')).toEqual(['3:3 x-heal: must be a mapping, not a list']);
    expect(
      await problems(
        '  hosts: [h1]',
        '  ssh: { port: 70000 }',
        '  watch: { interval: 5, host_down_after: -1s, rebalance: maybe }',
      ),
    ).toEqual([
      '3:10 x-heal.hosts: must be a mapping, not a list',
      '4:16 x-heal.ssh.port: must be at most 65535',
      '5:22 x-heal.watch.interval: 5 is not a duration: give it a unit, as in "5s"',
      '5:42 x-heal.watch.host_down_after: "-1s" is negative; a duration must be 0 or more',
      '5:58 x-heal.watch.rebalance: must be true or false, not "maybe"',
    ]);
  });
});

describe('parseSshTarget', () => {
  it.each([
    ['10.0.0.1', { user: null, address: '10.0.0.1', port: null }],
    ['root@10.0.0.1', { user: 'root', address: '10.0.0.1', port: null }],
    ['deploy@host.example:2222', { user: 'deploy', address: 'host.example', port: 2222 }],
    ['[::1]:22', { user: null, address: '::1', port: 22 }],
    ['u@[2001:db8::1]', { user: 'u', address: '2001:db8::1', port: null }],
    ['fe80::1', { user: null, address: 'fe80::1', port: null }],
    // Without brackets every colon belongs to the address.
    ['2001:db8::1:22', { user: null, address: '2001:db8::1:22', port: null }],
  ])('reads %s', (text, target) => {
    expect(parseSshTarget(text)).toEqual(target);
  });

  it.each(['', 'u@', 'h:0', 'h:65536', 'h:abc', 'a b', 'u@h@x', '[::1', 'h:22:33'])('refuses %j', (text) => {
    expect(parseSshTarget(text)).toBeUndefined();
  });
});
