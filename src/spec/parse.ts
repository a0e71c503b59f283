import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { Alias } from 'yaml';
import { formatPath, type KeyPath } from './errors.js';

export type Position = { readonly line: number; readonly col: number };

/** Where each key and value of the parsed tree came from, so any later phase can point at a line. */
export type SourceMap = {
  /** The position of the value at `path`, or of its nearest ancestor that has one. */
  readonly locate: (path: KeyPath, which?: 'key' | 'value') => Position;
};

export type Parsed = {
  readonly tree: unknown;
  readonly source: SourceMap;
  readonly problems: readonly {
    readonly position: Position;
    readonly path: KeyPath;
    readonly message: string;
  }[];
};

/**
 * Nodes visited while expanding aliases. A compose file has hundreds; a billion-laughs file
 * has billions, so the walk stops here instead of exhausting memory.
 */
export const MAX_NODES = 200_000;

const START: Position = { line: 1, col: 1 };

/** Parses YAML text into a plain tree of objects, arrays and scalars, with every key and value located. */
export function parseYaml(text: string): Parsed {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined): Position =>
    offset === undefined ? START : lineCounter.linePos(offset);

  const syntax = doc.errors.map((error) => ({
    position: at(error.pos[0]),
    path: [],
    message: error.message,
  }));
  if (syntax.length > 0)
    return { tree: undefined, source: sourceMap(new Map(), new Map()), problems: syntax };

  const values = new Map<string, Position>();
  const keys = new Map<string, Position>();
  const walker = { visited: 0, tooBig: false };
  // yaml's Alias.resolve walks the whole document on every call: resolve each alias once.
  const targets = new Map<unknown, unknown>();
  const target = (alias: Alias): unknown => {
    if (!targets.has(alias)) targets.set(alias, alias.resolve(doc));
    return targets.get(alias);
  };

  const walk = (node: unknown, path: KeyPath): unknown => {
    walker.visited += 1;
    if (walker.visited > MAX_NODES) {
      walker.tooBig = true;
      return null;
    }
    if (isAlias(node)) return walk(target(node), path);
    const yamlNode = node as Node | null;
    if (yamlNode?.range) values.set(formatPath(path), at(yamlNode.range[0]));
    if (isScalar(node)) return node.value;
    if (isSeq(node)) return node.items.map((item, index) => walk(item, [...path, index]));
    if (isMap(node)) return walkMap(node.items, path);
    return null;
  };

  const walkMap = (items: readonly unknown[], path: KeyPath): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const merged: Record<string, unknown>[] = [];
    for (const pair of items) {
      if (!isPair(pair)) continue;
      const keyValue = isScalar(pair.key) ? pair.key.value : pair.key;
      if (typeof keyValue === 'symbol') {
        merged.push(...mergeSources(pair.value, path));
        continue;
      }
      const key = String(keyValue);
      const childPath = [...path, key];
      const keyNode = pair.key as Node | null;
      if (keyNode?.range) keys.set(formatPath(childPath), at(keyNode.range[0]));
      // A key with no value (`image:`) is null, as compose reads it.
      out[key] = pair.value === null ? null : walk(pair.value, childPath);
      if (pair.value === null && keyNode?.range) values.set(formatPath(childPath), at(keyNode.range[0]));
    }
    // Explicit keys win over merged ones; earlier merge sources win over later ones.
    for (const source of merged) {
      for (const [key, value] of Object.entries(source)) if (!(key in out)) out[key] = value;
    }
    return out;
  };

  const mergeSources = (value: unknown, path: KeyPath): Record<string, unknown>[] => {
    const sources = isSeq(value) ? value.items : [value];
    return sources
      .map((source) => walk(source, path))
      .filter((source): source is Record<string, unknown> => isPlainObject(source));
  };

  const tree = walk(doc.contents, []);
  if (walker.tooBig) {
    const message = `the document expands to more than ${MAX_NODES} nodes (too many aliases?)`;
    return {
      tree: undefined,
      source: sourceMap(values, keys),
      problems: [{ position: START, path: [], message }],
    };
  }
  return { tree, source: sourceMap(values, keys), problems: [] };
}

function sourceMap(values: Map<string, Position>, keys: Map<string, Position>): SourceMap {
  return {
    locate(path, which = 'value') {
      const first = which === 'key' ? keys.get(formatPath(path)) : undefined;
      if (first) return first;
      for (let length = path.length; length >= 0; length -= 1) {
        const found = values.get(formatPath(path.slice(0, length)));
        if (found) return found;
      }
      return START;
    },
  };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
