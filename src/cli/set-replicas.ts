import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseDocument,
  visit,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';

const MERGE = '<<';

/** One change to the text: `[start, end)` becomes `text`. */
type Edit = { readonly start: number; readonly end: number; readonly text: string };

/**
 * Sets `deploy.replicas` (or `scale`, where the service uses it) of the services named, and only
 * of them, by editing the text where the change is, so comments, quoting and layout stay byte
 * for byte everywhere else:
 *
 * - a number the service owns is replaced;
 * - a `deploy:` the service takes from a merge key (`<<: *common`) is kept: the service gets
 *   `deploy: { <<: *common-deploy, replicas: N }` (the merged map gets that anchor if it has
 *   none), its placement and limits merged as before;
 * - a `deploy: *alias` becomes `deploy: { <<: *alias, replicas: N }`;
 * - a `deploy:` map other services alias (`deploy: &d ...`) is not edited in place, which would
 *   scale them too: it becomes `deploy: { <<: &d ..., replicas: N }`.
 *
 * A service map that other services merge (`web: &web`) is edited through the yaml Document API,
 * which keeps comments but may respace flow collections: rare enough not to need more.
 */
export function setReplicas(text: string, wanted: readonly (readonly [string, number])[]): string {
  let out = text;
  for (const [service, replicas] of wanted) out = setOne(out, service, replicas);
  return out;
}

function setOne(text: string, service: string, replicas: number): string {
  const doc = parseDocument(text, { merge: true });
  const services = doc.get('services', true);
  if (!isMap(services)) throw new Error('the spec has no `services:` mapping');
  const pair = services.items.find((item) => isScalar(item.key) && item.key.value === service);
  const node = pair?.value as Node | null | undefined;
  if (!pair || node === undefined || node === null) throw new Error(`there is no service "${service}"`);
  if (isAlias(node) || (isMap(node) && isShared(doc, node))) return viaDocument(doc, text, service, replicas);
  if (!isMap(node)) throw new Error(`service "${service}" is not a mapping`);

  const deployPair = ownPair(node, 'deploy');
  const deploy = deployPair?.value as Node | null | undefined;
  const scale = ownPair(node, 'scale');
  if (scale && !(isMap(deploy) && ownPair(deploy, 'replicas'))) return apply(text, setValue(scale, replicas));

  if (deploy === undefined || deploy === null) {
    const merged = mergedPair(doc, node, 'deploy');
    const value = merged?.value as Node | null | undefined;
    if (!merged || !isMap(value))
      return apply(text, addPair(text, node, 'deploy', `{ replicas: ${replicas} }`));
    const anchor = value.anchor ?? newAnchor(doc, merged);
    return apply(
      text,
      ...(value.anchor ? [] : [afterColon(text, merged, ` &${anchor}`)]),
      addPair(text, node, 'deploy', `{ <<: *${anchor}, replicas: ${replicas} }`),
    );
  }
  if (isAlias(deploy)) {
    const [start, end] = deploy.range!;
    return apply(text, { start, end, text: `{ <<: ${text.slice(start, end)}, replicas: ${replicas} }` });
  }
  if (!isMap(deploy)) throw new Error(`services.${service}.deploy is not a mapping`);
  if (isShared(doc, deploy)) return apply(text, ...wrapShared(text, deployPair!, deploy, replicas));
  const own = ownPair(deploy, 'replicas');
  return apply(text, own ? setValue(own, replicas) : addPair(text, deploy, 'replicas', String(replicas)));
}

function apply(text: string, ...edits: Edit[]): string {
  return [...edits]
    .sort((a, b) => b.start - a.start)
    .reduce((out, edit) => `${out.slice(0, edit.start)}${edit.text}${out.slice(edit.end)}`, text);
}

function setValue(pair: Pair, value: number): Edit {
  const node = pair.value as Node | null;
  if (!isScalar(node) || !node.range) throw new Error(`${String(pair.key)} is not a number`);
  return { start: node.range[0], end: node.range[1], text: String(value) };
}

/** A new last key of `map`: `, key: value` in a flow map, a line of its own in a block map. */
function addPair(text: string, map: YAMLMap, key: string, value: string): Edit {
  const [start, end] = map.range!;
  if (map.flow) {
    const close = text.lastIndexOf('}', end - 1);
    const empty = map.items.length === 0;
    const before = text.slice(0, close).trimEnd().length;
    return { start: before, end: before, text: `${empty ? ' ' : ', '}${key}: ${value}${empty ? ' ' : ''}` };
  }
  const first = map.items[0]?.key as Node | undefined;
  const indent = ' '.repeat(column(text, first?.range?.[0] ?? start));
  const last = map.items.at(-1)!;
  const lastEnd = ((last.value ?? last.key) as Node).range![1];
  const at = text[lastEnd - 1] === '\n' ? lastEnd : lineEnd(text, lastEnd);
  const newline = at === text.length && !text.endsWith('\n') ? '\n' : '';
  return { start: at, end: at, text: `${newline}${indent}${key}: ${value}\n` };
}

/**
 * `deploy: &d <map>` becomes `deploy: { <<: &d <map>, replicas: N }` for a flow map, and for a
 * block map `<<: &d` on a line of its own with the map's lines indented under it, then `replicas`.
 */
function wrapShared(text: string, pair: Pair, map: YAMLMap, replicas: number): Edit[] {
  const anchorAt = text.lastIndexOf(`&${map.anchor!}`, map.range![0]);
  if (map.flow) {
    return [
      { start: anchorAt, end: anchorAt, text: '{ <<: ' },
      { start: map.range![1], end: map.range![1], text: `, replicas: ${replicas} }` },
    ];
  }
  const key = pair.key as Node;
  const outer = column(text, key.range![0]);
  const firstKey = (map.items[0]!.key as Node).range![0];
  const inner = column(text, firstKey);
  const step = ' '.repeat(Math.max(inner - outer, 2));
  const innerIndent = ' '.repeat(inner);
  const bodyStart = firstKey - inner;
  const last = map.items.at(-1)!;
  const lastEnd = ((last.value ?? last.key) as Node).range![1];
  const bodyEnd = text[lastEnd - 1] === '\n' ? lastEnd : lineEnd(text, lastEnd);
  const body = text
    .slice(bodyStart, bodyEnd)
    .split('\n')
    .map((line) => (line.trim() === '' ? line : `${step}${line}`))
    .join('\n');
  const anchorEnd = anchorAt + map.anchor!.length + 1;
  return [
    {
      start: anchorAt,
      end: bodyEnd,
      text: `\n${innerIndent}<<: ${text.slice(anchorAt, anchorEnd)}${text.slice(anchorEnd, bodyStart).trimEnd()}\n${body}${body.endsWith('\n') ? '' : '\n'}${innerIndent}replicas: ${replicas}\n`,
    },
    // The space that separated `deploy:` from the anchor now ends the line: drop it.
    { start: text.slice(0, anchorAt).trimEnd().length, end: anchorAt, text: '' },
  ];
}

/** ` &name` right after the colon of `pair`: the anchor of its value, flow or block. */
function afterColon(text: string, pair: Pair, insert: string): Edit {
  const colon = text.indexOf(':', (pair.key as Node).range![1]);
  return { start: colon + 1, end: colon + 1, text: insert };
}

/** Where the line holding `index` ends (after its newline), comments included. */
function lineEnd(text: string, index: number): number {
  const newline = text.indexOf('\n', index);
  return newline < 0 ? text.length : newline + 1;
}

function column(text: string, index: number): number {
  return index - (text.lastIndexOf('\n', index - 1) + 1);
}

/** The map's own pair for `key`, not a merged one. */
function ownPair(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((item) => isScalar(item.key) && item.key.value === key);
}

/** A `<<` key: parsed with merge keys on, its value is a symbol whose source is `<<`. */
function isMergeKey(key: unknown): boolean {
  return isScalar(key) && (key.value === MERGE || key.source === MERGE);
}

/** The pair a map takes `key` from through its merge keys, as YAML merges: earlier sources win. */
function mergedPair(doc: Document, map: YAMLMap, key: string): Pair | undefined {
  for (const pair of map.items) {
    if (!isMergeKey(pair.key)) continue;
    const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
    for (const source of sources) {
      const resolved = isAlias(source) ? source.resolve(doc) : source;
      if (!isMap(resolved)) continue;
      const found = ownPair(resolved, key) ?? mergedPair(doc, resolved, key);
      if (found) return resolveValue(doc, found);
    }
  }
  return undefined;
}

/** A pair whose value is an alias stands for the pair that defines the anchored value. */
function resolveValue(doc: Document, pair: Pair): Pair {
  if (!isAlias(pair.value)) return pair;
  const target = pair.value.resolve(doc);
  let defining: Pair | undefined;
  visit(doc, {
    Pair(_key, candidate) {
      if (candidate.value !== target) return undefined;
      defining = candidate as Pair;
      return visit.BREAK;
    },
  });
  return defining ?? pair;
}

/** `<holder's anchor>-deploy`, or `deploy`, made unique among the document's anchors. */
function newAnchor(doc: Document, pair: Pair): string {
  const taken = new Set<string>();
  let holder: string | undefined;
  visit(doc, {
    Node(_key, node) {
      if (node.anchor) taken.add(node.anchor);
      if (isMap(node) && node.items.includes(pair as never)) holder = node.anchor;
    },
  });
  const base = holder ? `${holder}-deploy` : 'deploy';
  let name = base;
  for (let n = 2; taken.has(name); n++) name = `${base}${n}`;
  return name;
}

/** Whether a node carries an anchor some alias refers to: editing it would edit them too. */
function isShared(doc: Document, node: Node): boolean {
  const anchor = node.anchor;
  if (anchor === undefined) return false;
  let found = false;
  visit(doc, {
    Alias(_key, alias) {
      if (alias.source !== anchor) return undefined;
      found = true;
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * A service whose own map other services merge or alias: it merges that map and sets its
 * `deploy:` over it, through the Document API.
 */
function viaDocument(doc: Document, text: string, service: string, replicas: number): string {
  const services = doc.get('services', true) as YAMLMap;
  const node = services.get(service, true) as Node;
  const target = isAlias(node) ? node.resolve(doc) : node;
  if (!isMap(target)) throw new Error(`service "${service}" is not a mapping`);
  const own = doc.createNode({}) as YAMLMap;
  own.flow = target.flow === true;
  own.set(doc.createNode(MERGE), isAlias(node) ? node : target);
  const deploy = ownPair(target, 'deploy')?.value as Node | undefined;
  const merged = deploy ?? mergedPair(doc, target, 'deploy')?.value;
  if (isMap(merged) || isAlias(merged)) {
    const source = isAlias(merged) ? merged : doc.createAlias(merged, `${target.anchor ?? service}-deploy`);
    const wrapped = doc.createNode({}) as YAMLMap;
    wrapped.flow = true;
    wrapped.set(doc.createNode(MERGE), source);
    wrapped.set('replicas', replicas);
    own.set('deploy', wrapped);
  } else {
    own.set('deploy', doc.createNode({ replicas }));
  }
  services.set(service, own);
  return doc.toString({ flowCollectionPadding: !/\{[^\s}]/.test(text), lineWidth: 0 });
}
