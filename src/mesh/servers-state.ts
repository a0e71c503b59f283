/**
 * Reading HAProxy 2.6's `show servers state` (format 1): a version line, a `#`-prefixed header,
 * then one space-separated line per server. Columns are found by the header's names, so a later
 * format that adds columns still reads.
 */

export type AdminState = 'ready' | 'drain' | 'maint';
export type OperationalState = 'down' | 'starting' | 'up' | 'stopping';

export type CurrentServer = {
  readonly backend: string;
  readonly server: string;
  readonly address: string;
  readonly port: number;
  readonly admin: AdminState;
  readonly operational: OperationalState;
};

// srv_admin_state is a mask: forced, inherited, configured or resolution maintenance; forced or inherited drain.
const MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20;
const DRAIN_BITS = 0x08 | 0x10;
const OPERATIONAL: readonly OperationalState[] = ['down', 'starting', 'up', 'stopping'];
const NEEDED = ['be_name', 'srv_name', 'srv_addr', 'srv_op_state', 'srv_admin_state', 'srv_port'] as const;

export function parseServersState(text: string): CurrentServer[] {
  const lines = text.split('\n').map((line) => line.trim());
  const header = lines.find((line) => line.startsWith('#'));
  if (header === undefined) return [];
  const columns = header.slice(1).trim().split(/\s+/);
  const index = Object.fromEntries(NEEDED.map((name) => [name, columns.indexOf(name)])) as Record<
    (typeof NEEDED)[number],
    number
  >;
  if (Object.values(index).some((position) => position === -1)) {
    throw new Error(`show servers state: the header lacks one of ${NEEDED.join(', ')}`);
  }
  return lines
    .filter((line) => line !== '' && !line.startsWith('#') && /\s/.test(line))
    .map((line) => {
      const fields = line.split(/\s+/);
      const field = (name: (typeof NEEDED)[number]): string => fields[index[name]] ?? '';
      return {
        backend: field('be_name'),
        server: field('srv_name'),
        address: field('srv_addr'),
        port: Number(field('srv_port')),
        admin: adminState(Number(field('srv_admin_state'))),
        operational: OPERATIONAL[Number(field('srv_op_state'))] ?? 'down',
      };
    });
}

function adminState(mask: number): AdminState {
  if ((mask & MAINT_BITS) !== 0) return 'maint';
  if ((mask & DRAIN_BITS) !== 0) return 'drain';
  return 'ready';
}
