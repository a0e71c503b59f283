/**
 * Reading the established connections of each server from `show stat` (CSV, header `# pxname,
 * svname,qcur,qmax,scur,…`): what a drain waits on. A drained member is done when its `scur` is 0
 * on every proxy, or when the drain timeout is up, whichever comes first.
 */
export function parseSessions(csv: string): Map<string, number> {
  const lines = csv.split('\n').map((line) => line.trim());
  const header = lines.find((line) => line.startsWith('#'));
  if (header === undefined) return new Map();
  const columns = header.slice(1).trim().split(',');
  const [proxy, server, current] = ['pxname', 'svname', 'scur'].map((name) => columns.indexOf(name));
  if (
    proxy === undefined ||
    server === undefined ||
    current === undefined ||
    Math.min(proxy, server, current) < 0
  ) {
    throw new Error('show stat: the header lacks pxname, svname or scur');
  }
  const sessions = new Map<string, number>();
  for (const line of lines.filter((l) => l !== '' && !l.startsWith('#'))) {
    const fields = line.split(',');
    const name = fields[server] ?? '';
    if (name === 'FRONTEND' || name === 'BACKEND') continue;
    sessions.set(`${fields[proxy] ?? ''}/${name}`, Number(fields[current] ?? '0'));
  }
  return sessions;
}
