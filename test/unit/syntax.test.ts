import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { describe, it, expect } from 'vitest';
import type { Constraint, Mount, PortMapping } from '../../src/spec/types.js';
import { parseBytes } from '../../src/spec/syntax/bytes.js';
import { parseConstraint } from '../../src/spec/syntax/constraints.js';
import { parseDuration } from '../../src/spec/syntax/duration.js';
import { parsePorts } from '../../src/spec/syntax/ports.js';
import { isNamedVolumeSource, parseServiceVolume } from '../../src/spec/syntax/volumes.js';

describe('parseDuration', () => {
  it.each<[string | number, number]>([
    ['1m30s', 90_000],
    ['10s', 10_000],
    ['500ms', 500],
    ['1h', 3_600_000],
    ['2.5s', 2500],
    ['.5s', 500],
    ['1.s', 1000],
    ['1h5m30s20ms', 3_930_020],
    ['1us', 0.001],
    ['1µs', 0.001],
    ['100ns', 0.0001],
    ['1.5ns', 0.000001],
    ['1d', 86_400_000],
    ['1w', 604_800_000],
    ['0', 0],
    ['0s', 0],
    [0, 0],
  ])('reads %j as %j ms', (input, value) => {
    expect(parseDuration(input)).toEqual({ value });
  });

  it.each<[string | number, string]>([
    ['', '"" is not a duration: use numbers with units, as in "10s" or "1m30s"'],
    ['10', '"10" is not a duration: use numbers with units, as in "10s" or "1m30s"'],
    ['10S', '"10S" is not a duration: use numbers with units, as in "10s" or "1m30s"'],
    ['1m 30s', '"1m 30s" is not a duration: use numbers with units, as in "10s" or "1m30s"'],
    ['s', '"s" is not a duration: use numbers with units, as in "10s" or "1m30s"'],
    ['+1s', '"+1s" is not a duration: use numbers with units, as in "10s" or "1m30s"'],
    ['-1s', '"-1s" is negative; a duration must be 0 or more'],
    ['3000000h', '"3000000h" is too long a duration'],
    [10, '10 is not a duration: give it a unit, as in "10s"'],
    [1.5, '1.5 is not a duration: give it a unit, as in "1.5s"'],
    [-5, '-5 is negative; a duration must be 0 or more'],
  ])('rejects %j', (input, error) => {
    expect(parseDuration(input)).toEqual({ error });
  });
});

describe('parseBytes', () => {
  it.each<[string | number, number]>([
    ['2b', 2],
    ['2', 2],
    ['1024kb', 1024 * 1024],
    ['2048k', 2048 * 1024],
    ['300m', 300 * 1024 ** 2],
    ['300mb', 300 * 1024 ** 2],
    ['300MB', 300 * 1024 ** 2],
    ['1gb', 1024 ** 3],
    ['1g', 1024 ** 3],
    ['1G', 1024 ** 3],
    ['1GiB', 1024 ** 3],
    ['1 gb', 1024 ** 3],
    ['1.5k', 1536],
    ['1.1k', 1126],
    ['2t', 2 * 1024 ** 4],
    ['1p', 1024 ** 5],
    ['0', 0],
    [0, 0],
    [512, 512],
  ])('reads %j as %j bytes', (input, value) => {
    expect(parseBytes(input)).toEqual({ value });
  });

  const unit = 'use a number with an optional unit b, k, m or g, as in "300m"';
  it.each<[string | number, string]>([
    ['', `"" is not a byte size: ${unit}`],
    ['abc', `"abc" is not a byte size: ${unit}`],
    ['1x', `"1x" is not a byte size: ${unit}`],
    ['-1k', `"-1k" is not a byte size: ${unit}`],
    ['1  g', `"1  g" is not a byte size: ${unit}`],
    ['1ib', `"1ib" is not a byte size: ${unit}`],
    [' 1g', `" 1g" is not a byte size: ${unit}`],
    ['8192p', '"8192p" is too large a byte size'],
    [-1, '-1 is not a byte size: use a whole number of bytes, 0 or more'],
    [1.5, '1.5 is not a byte size: use a whole number of bytes, 0 or more'],
    [2 ** 60, '1152921504606847000 is too large a byte size'],
  ])('rejects %j', (input, error) => {
    expect(parseBytes(input)).toEqual({ error });
  });
});

function port(target: number, published: number | null, more: Partial<PortMapping> = {}): PortMapping {
  return { target, published, hostIp: null, protocol: 'tcp', mode: 'ingress', ...more };
}

describe('parsePorts', () => {
  it.each<[unknown, PortMapping[]]>([
    ['3000', [port(3000, null)]],
    [8080, [port(8080, null)]],
    ['3000-3002', [port(3000, null), port(3001, null), port(3002, null)]],
    ['8000:8000', [port(8000, 8000)]],
    ['49100:22', [port(22, 49100)]],
    [':80', [port(80, null)]],
    ['9090-9091:8080-8081', [port(8080, 9090), port(8081, 9091)]],
    ['8000-8000:80', [port(80, 8000)]],
    ['127.0.0.1:8001:8001', [port(8001, 8001, { hostIp: '127.0.0.1' })]],
    [
      '127.0.0.1:5000-5001:5000-5001',
      [port(5000, 5000, { hostIp: '127.0.0.1' }), port(5001, 5001, { hostIp: '127.0.0.1' })],
    ],
    ['127.0.0.1::5000', [port(5000, null, { hostIp: '127.0.0.1' })]],
    ['6060:6060/udp', [port(6060, 6060, { protocol: 'udp' })]],
    ['6060:6060/UDP', [port(6060, 6060, { protocol: 'udp' })]],
    ['80/sctp', [port(80, null, { protocol: 'sctp' })]],
    ['[::1]:6001:6001', [port(6001, 6001, { hostIp: '::1' })]],
    ['::1:6001:6001', [port(6001, 6001, { hostIp: '::1' })]],
    ['65535:1', [port(1, 65535)]],
    [{ target: 80 }, [port(80, null)]],
    [{ target: '80', published: '8080' }, [port(80, 8080)]],
    [{ target: 80, published: 8080 }, [port(80, 8080)]],
    [{ target: 80, published: '' }, [port(80, null)]],
    [{ target: 80, published: null }, [port(80, null)]],
    [{ target: 80, published: '8080-8080' }, [port(80, 8080)]],
    [
      { target: 80, published: 8080, host_ip: '10.0.0.1', protocol: 'udp', mode: 'host' },
      [port(80, 8080, { hostIp: '10.0.0.1', protocol: 'udp', mode: 'host' })],
    ],
    [{ target: 80, host_ip: '[::1]', protocol: 'TCP' }, [port(80, null, { hostIp: '::1' })]],
    [{ target: 80, host_ip: '' }, [port(80, null)]],
    [
      { target: 80, name: 'web', app_protocol: 'http', 'x-note': 1 },
      [{ ...port(80, null), appProtocol: 'http' }],
    ],
  ])('reads %j', (entry, value) => {
    expect(parsePorts(entry)).toEqual({ value });
  });

  it.each<[unknown, string]>([
    ['80:abc', '"80:abc" is not a port mapping: "abc" is not a port number (1-65535)'],
    ['abc:80', '"abc:80" is not a port mapping: "abc" is not a port number (1-65535)'],
    ['', '"" is not a port mapping: it gives no container port'],
    ['80:', '"80:" is not a port mapping: it gives no container port'],
    ['/udp', '"/udp" is not a port mapping: it gives no container port'],
    ['0', '"0" is not a port mapping: "0" is not a port number (1-65535)'],
    ['0:80', '"0:80" is not a port mapping: "0" is not a port number (1-65535)'],
    ['65536', '"65536" is not a port mapping: "65536" is not a port number (1-65535)'],
    [' 80', '" 80" is not a port mapping: " 80" is not a port number (1-65535)'],
    ['+80', '"+80" is not a port mapping: "+80" is not a port number (1-65535)'],
    [0, '0 is not a port number (1-65535)'],
    [80.5, '80.5 is not a port number (1-65535)'],
    [65536, '65536 is not a port number (1-65535)'],
    ['80/http', '"80/http" is not a port mapping: "http" is not a protocol (tcp, udp or sctp)'],
    ['80/', '"80/" is not a port mapping: "" is not a protocol (tcp, udp or sctp)'],
    ['abc:80:80', '"abc:80:80" is not a port mapping: "abc" is not an IP address'],
    ['1.2.3:80:80', '"1.2.3:80:80" is not a port mapping: "1.2.3" is not an IP address'],
    ['[1.2.3]:80:80', '"[1.2.3]:80:80" is not a port mapping: "[1.2.3]" is not an IP address'],
    ['90-80', '"90-80" is not a port mapping: "90-80" is not a port range: it ends before it starts'],
    ['80-90-100', '"80-90-100" is not a port mapping: "80-90-100" is not a port range'],
    ['80-:80', '"80-:80" is not a port mapping: "" is not a port number (1-65535)'],
    [
      '9090-9092:8080-8081',
      '"9090-9092:8080-8081" is not a port mapping: it maps 3 ports on the host to 2 ports in the container',
    ],
    [
      '9090:8080-8081',
      '"9090:8080-8081" is not a port mapping: it maps 1 port on the host to 2 ports in the container',
    ],
    [
      '12400-12500:1240',
      '"12400-12500:1240" publishes one container port on a range of host ports, which heal does not support: give one host port',
    ],
    [true, 'true is not a port mapping'],
    [null, 'null is not a port mapping'],
    [['80'], 'a list is not a port mapping'],
    [{}, 'a port mapping needs a target'],
    [{ published: 80 }, 'a port mapping needs a target'],
    [{ target: 80, public: 8080 }, 'a port mapping has no key "public"'],
    [{ target: 'http' }, 'target "http" is not a port number (1-65535)'],
    [{ target: 0 }, 'target 0 is not a port number (1-65535)'],
    [{ target: '8080-8081' }, 'target "8080-8081" is not a port number (1-65535)'],
    [{ target: 80, published: 0 }, 'published 0 is not a port number (1-65535)'],
    [{ target: 80, published: 70000 }, 'published 70000 is not a port number (1-65535)'],
    [{ target: 80, published: 'web' }, 'published "web" is not a port or a port range'],
    [{ target: 80, published: true }, 'published true is not a port or a port range'],
    [
      { target: 80, published: '8080-8081' },
      'published "8080-8081" is a range of host ports for one container port, which heal does not support: give one port',
    ],
    [{ target: 80, host_ip: 'localhost' }, '"localhost" is not an IP address'],
    [{ target: 80, host_ip: 1 }, '1 is not an IP address'],
    [{ target: 80, protocol: 'http' }, 'protocol "http" is not tcp, udp or sctp'],
    [{ target: 80, protocol: 6 }, 'protocol 6 is not tcp, udp or sctp'],
    [{ target: 80, mode: 'global' }, 'mode "global" is not ingress or host'],
    [{ target: 80, name: 5 }, 'name 5 is not a string'],
    [{ target: 80, app_protocol: ['http'] }, 'app_protocol a list is not a string'],
  ])('rejects %j', (entry, error) => {
    expect(parsePorts(entry)).toEqual({ error });
  });
});

const dir = '/srv/stack';
const local = { dir, local: true };
const remote = { dir, local: false };

function bind(source: string, target: string, more: Partial<Extract<Mount, { type: 'bind' }>> = {}): Mount {
  return {
    type: 'bind',
    source,
    relativeSource: null,
    target,
    readOnly: false,
    propagation: null,
    createHostPath: true,
    selinux: null,
    ...more,
  };
}

function volume(
  source: string | null,
  target: string,
  more: Partial<Extract<Mount, { type: 'volume' }>> = {},
): Mount {
  return {
    type: 'volume',
    source,
    target,
    readOnly: false,
    nocopy: false,
    subpath: null,
    selinux: null,
    ...more,
  };
}

describe('parseServiceVolume', () => {
  it.each<[unknown, Mount]>([
    ['/data', volume(null, '/data')],
    ['/data/', volume(null, '/data')],
    ['/', volume(null, '/')],
    ['cache:/cache', volume('cache', '/cache')],
    ['my_vol.1-a:/cache', volume('my_vol.1-a', '/cache')],
    ['cache:/cache:ro', volume('cache', '/cache', { readOnly: true })],
    ['cache:/cache:nocopy', volume('cache', '/cache', { nocopy: true })],
    ['cache:/cache:ro,rw', volume('cache', '/cache')],
    ['cache:/cache:rw,nocopy,cached', volume('cache', '/cache', { nocopy: true })],
    ['./data:/data', bind('/srv/stack/data', '/data', { relativeSource: './data' })],
    ['./data:/data:ro', bind('/srv/stack/data', '/data', { relativeSource: './data', readOnly: true })],
    ['../shared:/shared', bind('/srv/shared', '/shared', { relativeSource: '../shared' })],
    ['.:/app', bind('/srv/stack', '/app', { relativeSource: '.' })],
    ['.env:/app/.env', bind('/srv/stack/.env', '/app/.env', { relativeSource: './.env' })],
    ['/var/run/docker.sock:/var/run/docker.sock', bind('/var/run/docker.sock', '/var/run/docker.sock')],
    ['/opt/data/:/data/../data/', bind('/opt/data', '/data')],
    ['~/configs:/etc/configs', bind(resolve(homedir(), 'configs'), '/etc/configs')],
    ['~:/home', bind(homedir(), '/home')],
    [
      './a:/a:ro,rshared',
      bind('/srv/stack/a', '/a', { relativeSource: './a', readOnly: true, propagation: 'rshared' }),
    ],
    ['./a:/a:slave', bind('/srv/stack/a', '/a', { relativeSource: './a', propagation: 'slave' })],
    // SELinux relabeling, as compose-go's format.ParseVolume reads it.
    ['./a:/a:z', bind('/srv/stack/a', '/a', { relativeSource: './a', selinux: 'z' })],
    ['./a:/a:ro,Z', bind('/srv/stack/a', '/a', { relativeSource: './a', readOnly: true, selinux: 'Z' })],
    ['cache:/cache:z,nocopy', volume('cache', '/cache', { selinux: 'z', nocopy: true })],
    [
      { type: 'bind', source: '/srv/a', target: '/a', bind: { selinux: 'Z' } },
      bind('/srv/a', '/a', { createHostPath: false, selinux: 'Z' }),
    ],
    [
      { type: 'volume', source: 'db', target: '/x', volume: { subpath: 'etc/settings' } },
      volume('db', '/x', { subpath: 'etc/settings' }),
    ],
    [
      { type: 'volume', source: 'db', target: '/x', read_only: 'yes' },
      volume('db', '/x', { readOnly: true }),
    ],
    [{ type: 'volume', target: '/data' }, volume(null, '/data')],
    [{ type: 'volume', source: '', target: '/data' }, volume(null, '/data')],
    [
      { type: 'volume', source: 'db', target: '/var/lib/db/', read_only: true, volume: { nocopy: true } },
      volume('db', '/var/lib/db', { readOnly: true, nocopy: true }),
    ],
    [
      { type: 'volume', source: 'db', target: '/db', read_only: 'True', volume: { nocopy: 'false' } },
      volume('db', '/db', { readOnly: true }),
    ],
    [
      { type: 'volume', source: 'db', target: '/db', consistency: 'cached', 'x-why': 'docs' },
      volume('db', '/db'),
    ],
    [
      { type: 'bind', source: './static/', target: '/static' },
      bind('/srv/stack/static', '/static', { relativeSource: './static', createHostPath: false }),
    ],
    [
      { type: 'bind', source: 'static', target: '/static' },
      bind('/srv/stack/static', '/static', { relativeSource: './static', createHostPath: false }),
    ],
    [
      { type: 'bind', source: '~/x', target: '/x' },
      bind(resolve(homedir(), 'x'), '/x', { createHostPath: false }),
    ],
    [
      {
        type: 'bind',
        source: '/etc/app',
        target: '/etc/app',
        read_only: true,
        bind: { propagation: 'rprivate', create_host_path: true },
      },
      bind('/etc/app', '/etc/app', { readOnly: true, propagation: 'rprivate' }),
    ],
    [
      { type: 'tmpfs', target: '/run' },
      { type: 'tmpfs', target: '/run', size: null, mode: null },
    ],
    [
      { type: 'tmpfs', target: '/run', tmpfs: { size: '64m', mode: 0o1777 } },
      { type: 'tmpfs', target: '/run', size: 64 * 1024 ** 2, mode: 0o1777 },
    ],
    [
      { type: 'tmpfs', target: '/run', read_only: false, tmpfs: { size: 1000, mode: '1777' } },
      { type: 'tmpfs', target: '/run', size: 1000, mode: 0o1777 },
    ],
    [
      { type: 'tmpfs', target: '/run', tmpfs: { mode: '0o755' } },
      { type: 'tmpfs', target: '/run', size: null, mode: 0o755 },
    ],
    [
      { type: 'tmpfs', target: '/run', tmpfs: { mode: '0700' } },
      { type: 'tmpfs', target: '/run', size: null, mode: 0o700 },
    ],
  ])('reads %j', (entry, value) => {
    expect(parseServiceVolume(entry, local)).toEqual({ value });
  });

  it.each<[unknown, string]>([
    ['', '"" is not a volume mapping'],
    ['data', '"data" is not a volume mapping: the container path "data" is not absolute'],
    ['data:data', '"data:data" is not a volume mapping: the container path "data" is not absolute'],
    ['/data:ro', '"/data:ro" is not a volume mapping: the container path "ro" is not absolute'],
    ['ab:/b:ro:x', '"ab:/b:ro:x" is not a volume mapping: it has too many colons'],
    // A one-letter source reads as a Windows drive, as in compose.
    ['a:/b', '"a:/b" is a Windows path, which heal does not support'],
    ['data::/data', '"data::/data" is not a volume mapping: it has an empty part between colons'],
    ['data:/data:', '"data:/data:" is not a volume mapping: it has an empty part between colons'],
    ['my vol:/data', '"my vol:/data" is not a volume mapping: "my vol" is neither a path nor a volume name'],
    ['_vol:/data', '"_vol:/data" is not a volume mapping: "_vol" is neither a path nor a volume name'],
    [
      'data:/data:foo',
      '"data:/data:foo" is not a volume mapping: "foo" is not an option (ro, rw, nocopy, z, Z or a propagation)',
    ],
    [
      'data:/data:ro,',
      '"data:/data:ro," is not a volume mapping: "" is not an option (ro, rw, nocopy, z, Z or a propagation)',
    ],
    ['./a:/a:nocopy', '"./a:/a:nocopy" is not a volume mapping: nocopy applies only to named volumes'],
    [
      'data:/data:shared',
      '"data:/data:shared" is not a volume mapping: propagation applies only to bind mounts',
    ],
    ['~bob/x:/x', '"~bob/x:/x" is not a volume mapping: heal expands only "~" and "~/" in "~bob/x"'],
    ['C:\\data:/data', '"C:\\\\data:/data" is a Windows path, which heal does not support'],
    ['c:/data:/data', '"c:/data:/data" is a Windows path, which heal does not support'],
    ['data:c:/data', '"data:c:/data" is a Windows path, which heal does not support'],
    ['\\\\pipe\\x:/x', '"\\\\\\\\pipe\\\\x:/x" is a Windows path, which heal does not support'],
    [42, '42 is not a volume mapping'],
    [null, 'null is not a volume mapping'],
    [['/data'], 'a list is not a volume mapping'],
    [{ target: '/data' }, 'a volume mapping needs a type: volume, bind or tmpfs'],
    [{ type: 'npipe', source: '\\\\.\\pipe\\x', target: '/x' }, 'heal does not support "npipe" mounts'],
    [{ type: 'cluster', source: 'c', target: '/x' }, 'heal does not support "cluster" mounts'],
    [{ type: 'image', source: 'alpine', target: '/x' }, 'heal does not support "image" mounts'],
    [{ type: 'disk', target: '/x' }, '"disk" is not a mount type: use volume, bind or tmpfs'],
    [{ type: 'volume', target: '/x', readonly: true }, 'a volume mapping has no key "readonly"'],
    [{ type: 'volume', source: 'db' }, 'a volume mapping needs a target'],
    [{ type: 'volume', target: 5 }, 'target 5 is not a path'],
    [{ type: 'volume', target: 'data' }, 'target "data" is not an absolute path'],
    [{ type: 'volume', target: 'C:\\data' }, '"C:\\\\data" is a Windows path, which heal does not support'],
    [{ type: 'volume', target: '/x', read_only: 'maybe' }, 'read_only "maybe" is not true or false'],
    [{ type: 'volume', target: '/x', consistency: 1 }, 'consistency 1 is not a string'],
    [
      { type: 'volume', target: '/x', bind: { propagation: 'shared' } },
      'bind options do not apply to a volume mount',
    ],
    [
      { type: 'bind', source: '.', target: '/x', volume: { nocopy: true } },
      'volume options do not apply to a bind mount',
    ],
    [{ type: 'tmpfs', target: '/x', bind: {} }, 'bind options do not apply to a tmpfs mount'],
    [{ type: 'volume', target: '/x', volume: true }, 'volume options must be a mapping, not true'],
    [{ type: 'volume', target: '/x', volume: { labels: {} } }, 'volume options have no key "labels"'],
    [
      { type: 'volume', target: '/x', volume: { subpath: 'a/b' } },
      'a subpath needs a named volume as its source',
    ],
    [
      { type: 'volume', source: 'db', target: '/x', volume: { subpath: '../etc' } },
      'subpath "../etc" must be a relative path inside the volume',
    ],
    [
      { type: 'volume', source: 'db', target: '/x', volume: { subpath: '/etc' } },
      'subpath "/etc" must be a relative path inside the volume',
    ],
    [{ type: 'volume', target: '/x', volume: { nocopy: 1 } }, 'nocopy 1 is not true or false'],
    [{ type: 'volume', source: './db', target: '/x' }, 'source "./db" is not a volume name'],
    [{ type: 'volume', source: 5, target: '/x' }, 'source 5 is not a volume name'],
    [{ type: 'bind', target: '/x' }, 'a bind mount needs a source'],
    [{ type: 'bind', source: 5, target: '/x' }, 'source 5 is not a path'],
    [
      { type: 'bind', source: 'C:\\x', target: '/x' },
      '"C:\\\\x" is a Windows path, which heal does not support',
    ],
    [{ type: 'bind', source: '~bob', target: '/x' }, 'heal expands only "~" and "~/" in "~bob"'],
    [
      { type: 'bind', source: '/srv', target: '/x', bind: { selinux: 'y' } },
      'selinux "y" is not z (shared) or Z (private)',
    ],
    [
      { type: 'bind', source: '/srv/a:b', target: '/x', bind: { selinux: 'z' } },
      'a bind with a colon in its path cannot be relabeled (selinux)',
    ],
    [
      { type: 'bind', source: '.', target: '/x', bind: { recursive: 'enabled' } },
      'bind options have no key "recursive"',
    ],
    [
      { type: 'bind', source: '.', target: '/x', bind: { propagation: 'both' } },
      'propagation "both" is not one of shared, slave, private, rshared, rslave, rprivate',
    ],
    [
      { type: 'bind', source: '.', target: '/x', bind: { create_host_path: 'maybe' } },
      'create_host_path "maybe" is not true or false',
    ],
    [{ type: 'tmpfs', source: 'x', target: '/x' }, 'a tmpfs mount takes no source, not "x"'],
    [{ type: 'tmpfs', target: '/x', read_only: true }, 'heal does not support read-only tmpfs mounts'],
    [
      { type: 'tmpfs', target: '/x', tmpfs: { size: '1q' } },
      '"1q" is not a byte size: use a number with an optional unit b, k, m or g, as in "300m"',
    ],
    [{ type: 'tmpfs', target: '/x', tmpfs: { size: [] } }, 'size a list is not a byte size'],
    [
      { type: 'tmpfs', target: '/x', tmpfs: { mode: '999' } },
      'mode "999" is not a file mode: give octal digits, as in "1777"',
    ],
    [
      { type: 'tmpfs', target: '/x', tmpfs: { mode: '17777' } },
      'mode "17777" is not a file mode: give octal digits, as in "1777"',
    ],
    [
      { type: 'tmpfs', target: '/x', tmpfs: { mode: -1 } },
      'mode -1 is not a file mode: give octal digits, as in "1777"',
    ],
    [
      { type: 'tmpfs', target: '/x', tmpfs: { mode: 0o10000 } },
      'mode 4096 is not a file mode: give octal digits, as in "1777"',
    ],
    [{ type: 'tmpfs', target: '/x', tmpfs: { uid: 0 } }, 'tmpfs options have no key "uid"'],
  ])('rejects %j', (entry, error) => {
    expect(parseServiceVolume(entry, local)).toEqual({ error });
  });

  it.each<[unknown, string]>([
    ['./data:/data', `"./data" is relative to the spec's folder on the machine running heal`],
    ['../shared:/shared:ro', `"../shared" is relative to the spec's folder on the machine running heal`],
    ['~/configs:/etc/configs', '"~/configs" is in the home folder of the machine running heal'],
    [{ type: 'bind', source: 'static', target: '/static' }, `"static" is relative to the spec's folder`],
  ])('refuses %j when some hosts are remote', (entry, start) => {
    const parsed = parseServiceVolume(entry, remote);
    expect(parsed).toEqual({ error: expect.stringContaining(start) as unknown });
    expect(parsed).toEqual({
      error: expect.stringMatching(
        /, but a bind's source is a path on the Docker host and some hosts are remote: use an absolute path on the Docker host, or a named volume$/,
      ) as unknown,
    });
  });

  it('reads absolute sources and named volumes the same whatever the hosts', () => {
    for (const entry of [
      '/opt/data/:/data',
      'cache:/cache:ro',
      { type: 'bind', source: '/etc/app', target: '/x' },
    ])
      expect(parseServiceVolume(entry, remote)).toEqual(parseServiceVolume(entry, local));
  });

  it.each<[string, boolean]>([
    ['data', true],
    ['my_vol.1-a', true],
    ['9lives', true],
    ['./data', false],
    ['/data', false],
    ['~/data', false],
    ['.hidden', false],
    ['_data', false],
    ['my vol', false],
    ['', false],
  ])('isNamedVolumeSource(%j) is %j', (source, expected) => {
    expect(isNamedVolumeSource(source)).toBe(expected);
  });
});

describe('parseConstraint', () => {
  it.each<[string, Constraint]>([
    ['node.hostname == h1', { key: 'node.hostname', op: '==', value: 'h1', text: 'node.hostname == h1' }],
    ['node.hostname==h1', { key: 'node.hostname', op: '==', value: 'h1', text: 'node.hostname==h1' }],
    ['  node.hostname==h1  ', { key: 'node.hostname', op: '==', value: 'h1', text: 'node.hostname==h1' }],
    ['Node.Hostname == H1', { key: 'node.hostname', op: '==', value: 'H1', text: 'Node.Hostname == H1' }],
    ['node.id == h2', { key: 'node.hostname', op: '==', value: 'h2', text: 'node.id == h2' }],
    [
      'node.labels.zone != a',
      { key: 'node.labels.zone', op: '!=', value: 'a', text: 'node.labels.zone != a' },
    ],
    ['NODE.LABELS.Zone==a', { key: 'node.labels.Zone', op: '==', value: 'a', text: 'NODE.LABELS.Zone==a' }],
    [
      'node.labels.com.example.tier == db',
      {
        key: 'node.labels.com.example.tier',
        op: '==',
        value: 'db',
        text: 'node.labels.com.example.tier == db',
      },
    ],
    [
      'engine.labels.ssd == true',
      { key: 'engine.labels.ssd', op: '==', value: 'true', text: 'engine.labels.ssd == true' },
    ],
    ['node.role == manager', { key: 'node.role', op: '==', value: 'manager', text: 'node.role == manager' }],
    ['Node.Role!=Worker', { key: 'node.role', op: '!=', value: 'Worker', text: 'Node.Role!=Worker' }],
    [
      'node.platform.os == linux',
      { key: 'node.platform.os', op: '==', value: 'linux', text: 'node.platform.os == linux' },
    ],
    [
      'node.platform.arch != aarch64',
      { key: 'node.platform.arch', op: '!=', value: 'aarch64', text: 'node.platform.arch != aarch64' },
    ],
    [
      'node.labels.rack == eu west/1',
      { key: 'node.labels.rack', op: '==', value: 'eu west/1', text: 'node.labels.rack == eu west/1' },
    ],
  ])('reads %j', (text, value) => {
    expect(parseConstraint(text)).toEqual({ value });
  });

  const supported =
    'node.hostname, node.id, node.role, node.labels.<KEY>, engine.labels.<KEY>, node.platform.os or node.platform.arch';
  it.each<[string, string]>([
    [
      'node.hostname = h1',
      '"node.hostname = h1" is not a placement constraint: use KEY==VALUE or KEY!=VALUE',
    ],
    ['node.hostname', '"node.hostname" is not a placement constraint: use KEY==VALUE or KEY!=VALUE'],
    ['', '"" is not a placement constraint: use KEY==VALUE or KEY!=VALUE'],
    ['== h1', '"== h1" is not a placement constraint: "" is not a key'],
    [
      'node hostname == h1',
      '"node hostname == h1" is not a placement constraint: "node hostname" is not a key',
    ],
    ['1node == h1', '"1node == h1" is not a placement constraint: "1node" is not a key'],
    ['node.hostname ==', '"node.hostname ==" is not a placement constraint: it has no value'],
    [
      'node.hostname == h1!=h2',
      '"node.hostname == h1!=h2" is not a placement constraint: "h1!=h2" is not a value',
    ],
    [
      'node.hostname == h1==h2',
      '"node.hostname == h1==h2" is not a placement constraint: "h1==h2" is not a value',
    ],
    ['node.labels.a == b>c', '"node.labels.a == b>c" is not a placement constraint: "b>c" is not a value'],
    [
      'node.role == leader',
      '"node.role == leader" is not a placement constraint: node.role is manager or worker, not "leader"',
    ],
    [
      'node.ip == 10.0.0.1',
      `"node.ip == 10.0.0.1" uses node.ip, which heal does not support: use ${supported}`,
    ],
    [
      'node.labels. == a',
      `"node.labels. == a" uses node.labels., which heal does not support: use ${supported}`,
    ],
    ['zone == a', `"zone == a" uses zone, which heal does not support: use ${supported}`],
  ])('rejects %j', (text, error) => {
    expect(parseConstraint(text)).toEqual({ error });
  });
});
