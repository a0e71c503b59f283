import { describe, expect, it } from 'vitest';
import type { MemberChange } from '../../src/mesh/diff.js';
import { DEFAULT_HEALTH } from '../../src/mesh/health.js';
import { answered, runtimeCommands } from '../../src/mesh/runtime.js';
import { parseServersState } from '../../src/mesh/servers-state.js';

describe('runtimeCommands', () => {
  it('speaks HAProxy 2.6: add with checks and forced down, drain, re-address, remove after maintenance', () => {
    const changes: MemberChange[] = [
      {
        kind: 'add',
        backend: 'web_4000',
        server: 'h2-s1-a',
        address: '10.0.0.12',
        port: 32768,
        proxyProtocol: 'v2',
      },
      {
        kind: 'add',
        backend: 'web_4000',
        server: 'h3-s1-b',
        address: 'fd00::13',
        port: 32769,
        proxyProtocol: null,
      },
      { kind: 'readdress', backend: 'web_4000', server: 'h2-s2-c', address: '10.0.0.12', port: 32770 },
      { kind: 'ready', backend: 'web_4000', server: 'h2-s3-d' },
      { kind: 'drain', backend: 'web_4000', server: 'h1-s1-e' },
      { kind: 'remove', backend: 'web_4000', server: 'h1-s2-f' },
    ];
    expect(runtimeCommands(changes, DEFAULT_HEALTH).map((c) => c.line)).toEqual([
      'add server web_4000/h2-s1-a 10.0.0.12:32768 check inter 1000ms fall 2 rise 1 send-proxy-v2',
      'enable health web_4000/h2-s1-a',
      'enable server web_4000/h2-s1-a; set server web_4000/h2-s1-a health down',
      'add server web_4000/h3-s1-b [fd00::13]:32769 check inter 1000ms fall 2 rise 1',
      'enable health web_4000/h3-s1-b',
      'enable server web_4000/h3-s1-b; set server web_4000/h3-s1-b health down',
      'set server web_4000/h2-s2-c addr 10.0.0.12 port 32770',
      'set server web_4000/h2-s3-d state ready',
      'set server web_4000/h1-s1-e state drain',
      'set server web_4000/h1-s2-f state maint',
      'shutdown sessions server web_4000/h1-s2-f',
      'del server web_4000/h1-s2-f',
    ]);
  });

  it('knows a good answer from an error', () => {
    const [add, enable] = runtimeCommands(
      [{ kind: 'add', backend: 'b', server: 's', address: '10.0.0.1', port: 1, proxyProtocol: null }],
      DEFAULT_HEALTH,
    );
    if (add === undefined || enable === undefined) throw new Error('no commands');
    expect(answered(add, 'New server registered.\n\n')).toBe(true);
    expect(answered(add, 'Already exists a server with the same name in backend.\n')).toBe(false);
    expect(answered(enable, '\n')).toBe(true);
    expect(answered(enable, 'No such server.\n')).toBe(false);
    const [readdress] = runtimeCommands(
      [{ kind: 'readdress', backend: 'b', server: 's', address: '10.0.0.2', port: 2 }],
      DEFAULT_HEALTH,
    );
    if (readdress === undefined) throw new Error('no command');
    expect(
      answered(
        readdress,
        "no need to change the addr, port changed from '1' to '2' by 'stats socket command'\n",
      ),
    ).toBe(true);
  });
});

describe('parseServersState', () => {
  // Captured from HAProxy 2.6.12: a config server, a dynamic one in maintenance, one draining.
  const OUTPUT = [
    '1',
    '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port',
    '3 web_4000 1 h1-abc 127.0.0.1 0 0 1 1 1 8 2 0 6 0 0 0 - 18401 - 0 0 - - 0',
    '3 web_4000 2 h2-def 127.0.0.1 0 1 1 1 0 1 0 0 2 0 0 0 - 18402 - 0 0 - - 0',
    '3 web_4000 3 h3-x ::1 2 8 1 1 0 1 0 1 6 0 0 0 - 18403 - 0 0 - - 0',
    '',
    '',
  ].join('\n');

  it('reads backend, server, address, port and states', () => {
    expect(parseServersState(OUTPUT)).toEqual([
      {
        backend: 'web_4000',
        server: 'h1-abc',
        address: '127.0.0.1',
        port: 18401,
        admin: 'ready',
        operational: 'down',
      },
      {
        backend: 'web_4000',
        server: 'h2-def',
        address: '127.0.0.1',
        port: 18402,
        admin: 'maint',
        operational: 'down',
      },
      { backend: 'web_4000', server: 'h3-x', address: '::1', port: 18403, admin: 'drain', operational: 'up' },
    ]);
  });

  it('reads an empty proxy, and refuses a header it does not know', () => {
    expect(
      parseServersState(
        '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_port\n',
      ),
    ).toEqual([]);
    expect(() => parseServersState('1\n# be_id be_name\n3 web 1\n')).toThrow(/header lacks/);
  });
});
