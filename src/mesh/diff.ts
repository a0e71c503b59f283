import { compare } from './listeners.js';
import type { CurrentServer } from './servers-state.js';
import type { Backend, Member, ProxyMembership, ProxyProtocol } from './types.js';

/**
 * One change to one server of one host's proxy. `add` puts a new replica in; `drain` stops
 * sending it new connections (in-flight ones finish); `remove` takes it out for good.
 */
export type MemberChange =
  | {
      readonly kind: 'add';
      readonly backend: string;
      readonly server: string;
      readonly address: string;
      readonly port: number;
      readonly proxyProtocol: ProxyProtocol;
    }
  | {
      readonly kind: 'readdress';
      readonly backend: string;
      readonly server: string;
      readonly address: string;
      readonly port: number;
    }
  | { readonly kind: 'ready' | 'drain' | 'remove'; readonly backend: string; readonly server: string };

const ORDER: readonly MemberChange['kind'][] = ['add', 'readdress', 'ready', 'drain', 'remove'];

/**
 * The changes that bring a proxy's current servers to the desired membership, in an order that
 * never shrinks the balancing before it has grown: every add first, then re-addressing and
 * re-enabling, then drains, then removals. A replica the plan stops is drained, not added; a
 * server of a host heal cannot see is left as it is; a backend heal did not render is not touched.
 */
export function diffMembership(current: readonly CurrentServer[], desired: ProxyMembership): MemberChange[] {
  const unknown = new Set(desired.unknownHosts);
  return desired.backends
    .flatMap((backend) => {
      const present = new Map(current.filter((s) => s.backend === backend.name).map((s) => [s.server, s]));
      const wanted = new Set(backend.members.map((member) => member.server));
      const strays = [...present.values()].filter(
        (server) => !wanted.has(server.server) && !unknown.has(serverHost(server.server) ?? ''),
      );
      return [
        ...backend.members.flatMap((member) => memberChanges(backend, member, present.get(member.server))),
        ...strays.map((server): MemberChange => ({
          kind: 'remove',
          backend: backend.name,
          server: server.server,
        })),
      ];
    })
    .sort(byOrder);
}

/** What one desired member needs, given the server the proxy has under its name (if any). */
function memberChanges(backend: Backend, member: Member, server: CurrentServer | undefined): MemberChange[] {
  const ref = { backend: backend.name, server: member.server };
  const { address, port } = member;
  if (server === undefined) {
    if (member.state !== 'ready') return [];
    return [{ kind: 'add', ...ref, address, port, proxyProtocol: backend.listener.proxyProtocol }];
  }
  const changes: MemberChange[] = [];
  if (server.address !== address || server.port !== port)
    changes.push({ kind: 'readdress', ...ref, address, port });
  if (member.state !== server.admin) changes.push({ kind: member.state, ...ref });
  return changes;
}

function byOrder(a: MemberChange, b: MemberChange): number {
  return (
    ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind) ||
    compare(a.backend, b.backend) ||
    compare(a.server, b.server)
  );
}

/** The host a server name (`h2-s3-0123456789ab`, names.ts) was made for; null for another name. */
export function serverHost(server: string): string | null {
  const match = /^(.+)-s\d+-[0-9a-f]{1,12}$/.exec(server);
  return match?.[1] ?? null;
}
