import { describe, it, expect } from 'vitest';
import { parseDotenv } from '../../src/spec/dotenv.js';
import type { Lookup } from '../../src/spec/interpolate.js';

const lookupFrom =
  (environment: Readonly<Record<string, string>>): Lookup =>
  (name) =>
    Object.hasOwn(environment, name) ? environment[name] : undefined;

/** Parses and returns the variables as entries, in order, with the problems. */
const parse = (text: string, lookup?: Lookup) => {
  const { values, problems } = parseDotenv(text, lookup);
  return { values: [...values], problems };
};

const only = (text: string, lookup?: Lookup) => {
  const { values, problems } = parse(text, lookup);
  expect(problems).toEqual([]);
  expect(values).toHaveLength(1);
  return values[0]?.[1];
};

describe('parseDotenv', () => {
  it('reads assignments in order, skipping blank lines and comments', () => {
    const text = ['# database', '', 'A=1', '  # indented comment', 'B=two words', '\t', 'C=', 'D=x=y'].join(
      '\n',
    );
    expect(parse(text)).toEqual({
      values: [
        ['A', '1'],
        ['B', 'two words'],
        ['C', ''],
        ['D', 'x=y'],
      ],
      problems: [],
    });
  });

  it('reads an empty file', () => {
    expect(parse('')).toEqual({ values: [], problems: [] });
    expect(parse('\n\n# only a comment\n')).toEqual({ values: [], problems: [] });
  });

  it('accepts Windows line endings and a byte order mark', () => {
    expect(parse('\uFEFFA=1\r\nB="2"\r\n\r\nC\r\n', lookupFrom({ C: '3' }))).toEqual({
      values: [
        ['A', '1'],
        ['B', '2'],
        ['C', '3'],
      ],
      problems: [],
    });
  });

  it.each([
    ['export A=1', 'A'],
    ['export\tA=1', 'A'],
    ['  export A=1', 'A'],
    ['exportA=1', 'exportA'],
    ['export_A=1', 'export_A'],
    ['export.A=1', 'export.A'],
  ])('reads the key of %j as %j', (text, key) => {
    expect(parse(text)).toEqual({ values: [[key, '1']], problems: [] });
  });

  it.each([
    ['A = 1', '1'],
    ['A=   bar   ', 'bar'],
    ['A: 1', '1'],
    ['A: x=y', 'x=y'],
    ['A=1:B', '1:B'],
    ['A=bar # a comment', 'bar'],
    ['A=bar #', 'bar'],
    ['A=123#not-a-comment', '123#not-a-comment'],
    ['A=bar\t#not-a-comment', 'bar\t#not-a-comment'],
    ['A= #x', '#x'],
    ['A=a\\tb', 'a\\tb'],
    ['A=C:\\path', 'C:\\path'],
  ])('reads the unquoted %j as %j', (text, value) => {
    expect(only(text)).toBe(value);
  });

  it.each([
    ["A='bar'", 'bar'],
    ["A=''", ''],
    ["A='$FOO ${X'", '$FOO ${X'],
    ["A='a\\nb'", 'a\\nb'],
    ["A='C:\\path'", 'C:\\path'],
    ["A='it\\'s'", "it's"],
    ["A='ba#r' # comment", 'ba#r'],
    ['A=\'"d"\'', '"d"'],
    ["A='  padded  '", '  padded  '],
  ])('reads the single-quoted %j literally as %j', (text, value) => {
    expect(only(text, lookupFrom({ FOO: 'foo' }))).toBe(value);
  });

  it.each([
    ['A="bar"', 'bar'],
    ['A=""', ''],
    ['A="a\\nb\\tc"', 'a\nb\tc'],
    ['A="back\\\\slash"', 'back\\slash'],
    ['A="say \\"hi\\""', 'say "hi"'],
    ['A="Z\\aZ\\bZ\\fZ\\rZ\\vZ"', 'Z\x07Z\bZ\fZ\rZ\vZ'],
    ['A="\\0123"', 'S'],
    ['A="\\x07 \\q"', '\\x07 \\q'],
    ['A="bar\\\\nbaz"', 'bar\\nbaz'],
    ['A="\\$FOO"', '$FOO'],
    ['A="\\${FOO}"', '${FOO}'],
    ['A="\\\\$FOO"', '\\foo'],
    ['A="\'d\'"', "'d'"],
    ['A="bar#baz" # comment', 'bar#baz'],
    ['A="bar#baz"#', 'bar#baz'],
    ['A="  padded  "', '  padded  '],
  ])('reads the double-quoted %j as %j', (text, value) => {
    expect(only(text, lookupFrom({ FOO: 'foo' }))).toBe(value);
  });

  it('reads double- and single-quoted values across lines', () => {
    const text = ['A="first', 'second ${B:-x}', 'third"', "C='one", "two $B'", 'D=4'].join('\n');
    expect(parse(text)).toEqual({
      values: [
        ['A', 'first\nsecond x\nthird'],
        ['C', 'one\ntwo $B'],
        ['D', '4'],
      ],
      problems: [],
    });
  });

  it('interpolates unquoted and double-quoted values, the environment before earlier lines, as compose-go', () => {
    const text = [
      'A=1',
      'B=${A}2',
      'C="$A-$B"',
      "D='$A'",
      'E=${HOME}/data',
      'F=${UNSET:-fallback}',
      'G=$$A',
      'H=${LATER}',
      'LATER=late',
      'EMPTY=',
      'I=${EMPTY-unset}',
    ].join('\n');
    expect(parse(text, lookupFrom({ A: 'environment', HOME: '/root' }))).toEqual({
      values: [
        ['A', '1'],
        ['B', 'environment2'],
        ['C', 'environment-environment2'],
        ['D', '$A'],
        ['E', '/root/data'],
        ['F', 'fallback'],
        ['G', '$A'],
        ['H', ''],
        ['LATER', 'late'],
        ['EMPTY', ''],
        ['I', ''],
      ],
      problems: [],
    });
  });

  it('takes a bare key from the lookup and skips it when the lookup has none', () => {
    const text = 'A\nexport B\nMISSING\nC=3';
    expect(parse(text, lookupFrom({ A: 'from env', B: '' }))).toEqual({
      values: [
        ['A', 'from env'],
        ['B', ''],
        ['C', '3'],
      ],
      problems: [],
    });
    expect(parse('A')).toEqual({ values: [], problems: [] });
  });

  it('keeps the first position of a key assigned twice, with the last value', () => {
    expect(parse('A=1\nB=2\nA=3')).toEqual({
      values: [
        ['A', '3'],
        ['B', '2'],
      ],
      problems: [],
    });
  });

  it('reports every invalid key with its line and keeps reading', () => {
    const text = ['1A=x', 'OK=1', 'A B=x', '=x', 'A$B=x', 'lol$wut', 'FOO # note', 'OK.2-b=2'].join('\n');
    expect(parse(text)).toEqual({
      values: [
        ['OK', '1'],
        ['OK.2-b', '2'],
      ],
      problems: [
        { line: 1, message: 'invalid variable name "1A"' },
        { line: 3, message: 'invalid variable name "A B"' },
        { line: 4, message: 'invalid variable name ""' },
        { line: 5, message: 'invalid variable name "A$B"' },
        { line: 6, message: 'invalid variable name "lol$wut"' },
        { line: 7, message: 'invalid variable name "FOO # note"' },
      ],
    });
  });

  it('counts the lines of a multi-line value before a later problem', () => {
    expect(parse('A="one\ntwo\nthree"\n\n1B=x')).toEqual({
      values: [['A', 'one\ntwo\nthree']],
      problems: [{ line: 5, message: 'invalid variable name "1B"' }],
    });
  });

  it('does not read an invalid key past the end of its quoted value', () => {
    expect(parse('A B="one\nC=2"\nD=3')).toEqual({
      values: [['D', '3']],
      problems: [{ line: 1, message: 'invalid variable name "A B"' }],
    });
  });

  it('reports interpolation failures without quoting the value', () => {
    const text = ['A=${SECRET:?set SECRET}', 'B="${X:?}"', 'C=hunter2${', 'D=ok'].join('\n');
    expect(parse(text)).toEqual({
      values: [['D', 'ok']],
      problems: [
        { line: 1, message: 'required variable SECRET is missing a value: set SECRET' },
        { line: 2, message: 'required variable X is missing a value' },
        {
          line: 3,
          message:
            'invalid interpolation format for the value of C; you may need to escape any $ with another $',
        },
      ],
    });
  });

  it.each([
    ['A="', 1],
    ['A="value', 1],
    ['A="value\\"', 1],
    ['A="value\'', 1],
    ["A='", 1],
    ["A='value", 1],
    ["A='value\\'", 1],
    ['A=\'value"', 1],
    ['OK=1\n\nA="value\nB=2\n', 3],
  ])('reports the unterminated quote in %j on line %i', (text, line) => {
    const { values, problems } = parse(text);
    expect(problems).toEqual([{ line, message: 'unterminated quoted value for A' }]);
    expect(values).toEqual(text.startsWith('OK') ? [['OK', '1']] : []);
  });

  it('reports text after a closing quote on the line of that quote', () => {
    expect(parse('A="one\ntwo" three\nB=2')).toEqual({
      values: [['B', '2']],
      problems: [{ line: 2, message: 'unexpected text after the closing quote of A' }],
    });
  });
});
