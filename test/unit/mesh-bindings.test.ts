import { describe, expect, it } from 'vitest';
import { proxyBindings, replicaBindings } from '../../src/mesh/bindings.js';
import { listener } from './mesh-fixtures.js';

describe('port bindings', () => {
  const listeners = [listener('web', 4000, [80, 8080]), listener('web', 9000)];

  it('publishes every target port of a replica on an ephemeral port of the internal address', () => {
    expect(replicaBindings(listeners, '10.0.0.11')).toEqual({
      '4000/tcp': [{ HostIp: '10.0.0.11', HostPort: '' }],
      '9000/tcp': [{ HostIp: '10.0.0.11', HostPort: '' }],
    });
  });

  it('gives the published ports to the proxy, onto the target port it listens on', () => {
    const bound = { ...listener('api', 5000), published: [{ port: 81, hostIp: '192.0.2.1' }] };
    expect(proxyBindings([...listeners, bound])).toEqual({
      '4000/tcp': [
        { HostIp: '', HostPort: '80' },
        { HostIp: '', HostPort: '8080' },
      ],
      '5000/tcp': [{ HostIp: '192.0.2.1', HostPort: '81' }],
    });
  });
});
