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

/**
 * Text materialized while expanding aliases, in UTF-16 code units: every scalar and key visited,
 * and the key path recorded for each. One 200 KB scalar aliased 10,000 times is a 235 KB file
 * of only 10,000 nodes that expands to 2 GB; the walk stops here instead.
 */
export const MAX_EXPANDED_LENGTH = 16 * 1024 * 1024;

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
  const walker = { visited: 0, length: 0, tooBig: null as string | null };
  /** Counts text the walk keeps; false once the document is too big (the walk then unwinds). */
  const grow = (text: string): boolean => {
    walker.length += text.length;
    if (walker.length <= MAX_EXPANDED_LENGTH) return true;
    walker.tooBig ??= `the document expands to more than ${MAX_EXPANDED_LENGTH / 1024 / 1024} MiB of text (a large value aliased too often?)`;
    return false;
  };
  const locate = (locations: Map<string, Position>, path: KeyPath, offset: number): boolean => {
    const key = formatPath(path);
    locations.set(key, at(offset));
    return grow(key);
  };
  // yaml's Alias.resolve walks the whole document on every call: resolve each alias once.
  const targets = new Map<unknown, unknown>();
  const target = (alias: Alias): unknown => {
    if (!targets.has(alias)) targets.set(alias, alias.resolve(doc));
    return targets.get(alias);
  };

  const walk = (node: unknown, path: KeyPath): unknown => {
    walker.visited += 1;
    if (walker.visited > MAX_NODES)
      walker.tooBig ??= `the document expands to more than ${MAX_NODES} nodes (too many aliases?)`;
    if (walker.tooBig !== null) return null;
    if (isAlias(node)) return walk(target(node), path);
    const yamlNode = node as Node | null;
    if (yamlNode?.range && !locate(values, path, yamlNode.range[0])) return null;
    if (isScalar(node)) return typeof node.value === 'string' && !grow(node.value) ? null : node.value;
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
      if (!grow(key) || (keyNode?.range && !locate(keys, childPath, keyNode.range[0]))) return out;
      // A key with no value (`image:`) is null, as compose reads it.
      out[key] = pair.value === null ? null : walk(pair.value, childPath);
      if (pair.value === null && keyNode?.range) locate(values, childPath, keyNode.range[0]);
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
  if (walker.tooBig !== null) {
    return {
      tree: undefined,
      source: sourceMap(values, keys),
      problems: [{ position: START, path: [], message: walker.tooBig }],
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
