import { describe, it, expect } from 'vitest';
import { interpolateString, interpolateTree, type Lookup } from '../../src/spec/interpolate.js';

const environment: Readonly<Record<string, string>> = { FOO: 'first', EMPTY: '' };
const lookup: Lookup = (name) => (Object.hasOwn(environment, name) ? environment[name] : undefined);

const formatError = (text: string) =>
  `invalid interpolation format for ${JSON.stringify(text)}; you may need to escape any $ with another $`;

describe('interpolateString', () => {
  it.each([
    ['no variables at all', 'no variables at all'],
    ['$FOO', 'first'],
    ['${FOO}', 'first'],
    ['a${FOO}b', 'afirstb'],
    ['$FOO-bar', 'first-bar'],
    ['$FOO_BAR', ''],
    ['${FOO}_BAR', 'first_BAR'],
    ['This ${MISSING} var', 'This  var'],
    ['This $MISSING var', 'This  var'],
    ['This ${EMPTY} var', 'This  var'],
  ])('substitutes %j as %j', (text, expected) => {
    expect(interpolateString(text, lookup)).toEqual({ value: expected });
  });

  it.each([
    ['${MISSING:-def}', 'def'],
    ['${EMPTY:-def}', 'def'],
    ['${FOO:-def}', 'first'],
    ['${MISSING-def}', 'def'],
    ['${EMPTY-def}', ''],
    ['${FOO-def}', 'first'],
    ['${FOO:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${MISSING:+alt}', ''],
    ['${FOO+alt}', 'alt'],
    ['${EMPTY+alt}', 'alt'],
    ['${MISSING+alt}', ''],
    ['${FOO:?message}', 'first'],
    ['${FOO?message}', 'first'],
    ['${EMPTY?message}', ''],
    ['${MISSING:-}', ''],
  ])('applies the operator in %j', (text, expected) => {
    expect(interpolateString(text, lookup)).toEqual({ value: expected });
  });

  it.each([
    ['${EMPTY:?must be set}', 'required variable EMPTY is missing a value: must be set'],
    ['${MISSING:?must be set}', 'required variable MISSING is missing a value: must be set'],
    ['${MISSING?must be set}', 'required variable MISSING is missing a value: must be set'],
    ['not ok ${MISSING:?}', 'required variable MISSING is missing a value'],
    ['not ok ${MISSING?}', 'required variable MISSING is missing a value'],
    ['${MISSING:?need ${FOO} here}', 'required variable MISSING is missing a value: need first here'],
    ['${MISSING?bar-baz}', 'required variable MISSING is missing a value: bar-baz'],
    ['${MISSING:?${OTHER:?inner}}', 'required variable OTHER is missing a value: inner'],
  ])('fails %j with a required-variable sentence', (text, error) => {
    expect(interpolateString(text, lookup)).toEqual({ error });
  });

  it.each([
    ['$$', '$'],
    ['$$FOO', '$FOO'],
    ['$${FOO}', '${FOO}'],
    ['a$$$FOO', 'a$first'],
    ['$$$$', '$$'],
    ['${MISSING:-$$HOME}', '$HOME'],
  ])('reads $$ in %j as a literal $', (text, expected) => {
    expect(interpolateString(text, lookup)).toEqual({ value: expected });
  });

  it.each(['a $ string', '^REGEX$', '$}', '$', 'echo $1', '$-x', 'price: 5$ each', '$é'])(
    'keeps a $ that starts no variable in %j',
    (text) => {
      expect(interpolateString(text, lookup)).toEqual({ value: text });
    },
  );

  it.each([
    ['ok ${MISSING-$FOO}', 'ok first'],
    ['ok ${MISSING-${FOO}}', 'ok first'],
    ['ok ${MISSING-${FOO} ${FOO}}', 'ok first first'],
    ['ok ${EMPTY:-${FOO}}', 'ok first'],
    ['ok ${EMPTY+$FOO ${FOO:+second}}', 'ok first second'],
    ['${MISSING:-${OTHER:-${FOO}}}', 'first'],
    ['${MISSING:-${OTHER:-deep}}/end', 'deep/end'],
    ['+ok ${MISSING:-${EMPTY-default}}', '+ok '],
  ])('interpolates nested %j', (text, expected) => {
    expect(interpolateString(text, lookup)).toEqual({ value: expected });
  });

  it.each([
    ['${MISSING-myerror?msg}', 'myerror?msg'],
    ['${EMPTY:-/non:-alphanumeric}', '/non:-alphanumeric'],
    [':-ok ${MISSING-defaultValue}', ':-ok defaultValue'],
    ['?ok ${EMPTY:-defaultValue}', '?ok defaultValue'],
  ])('takes the operator right after the name in %j', (text, expected) => {
    expect(interpolateString(text, lookup)).toEqual({ value: expected });
  });

  it.each([
    ['${MISSING:-{"a":1}}', '{"a":1}'],
    ['${FOO:-{"a":1}}', 'first'],
    ['${MISSING:-a}b}', 'ab}'],
    ['${MISSING:-a{b}', 'a{b'],
  ])('balances braces in %j', (text, expected) => {
    expect(interpolateString(text, lookup)).toEqual({ value: expected });
  });

  it('evaluates a default, alternative or message only when it is used', () => {
    expect(interpolateString('${FOO:-${MISSING:?never}}', lookup)).toEqual({ value: 'first' });
    expect(interpolateString('${MISSING:+${OTHER:?never}}', lookup)).toEqual({ value: '' });
    expect(interpolateString('${FOO?${OTHER:?never}}', lookup)).toEqual({ value: 'first' });
  });

  it('asks the lookup only for the variables it uses', () => {
    const asked: string[] = [];
    const recording: Lookup = (name) => {
      asked.push(name);
      return lookup(name);
    };
    expect(interpolateString('$FOO ${MISSING:-${OTHER}} ${FOO:-${NEVER}}', recording)).toEqual({
      value: 'first  first',
    });
    expect(asked).toEqual(['FOO', 'MISSING', 'OTHER', 'FOO']);
  });

  it.each([
    '${',
    '${}',
    '${ }',
    '${ foo}',
    '${foo }',
    '${foo!}',
    '${VA R}',
    '${FOO',
    '${FOO:-unclosed',
    'ok ${FOO:x}',
    '${FOO:}',
    '${1}',
    'ok ${FOO} then ${',
    '${FOO:-${}}',
  ])('rejects the malformed %j', (text) => {
    expect(interpolateString(text, lookup)).toEqual({ error: formatError(text) });
  });

  it('quotes the text in a format error the way JSON does', () => {
    expect(interpolateString('say "${"', lookup)).toEqual({
      error: 'invalid interpolation format for "say \\"${\\""; you may need to escape any $ with another $',
    });
  });
});

describe('interpolateTree', () => {
  it('interpolates strings at every depth and leaves keys and other scalars alone', () => {
    const tree = {
      services: {
        web: {
          image: 'nginx:${TAG:-1.27}',
          ports: ['${PORT-8080}:80', 443],
          environment: { $FOO: '$FOO', RATIO: 0.5, DEBUG: true, UNSET: null },
        },
      },
    };
    expect(interpolateTree(tree, lookup)).toEqual({
      value: {
        services: {
          web: {
            image: 'nginx:1.27',
            ports: ['8080:80', 443],
            environment: { $FOO: 'first', RATIO: 0.5, DEBUG: true, UNSET: null },
          },
        },
      },
      problems: [],
    });
  });

  it('interpolates a string at the root', () => {
    expect(interpolateTree('${FOO}', lookup)).toEqual({ value: 'first', problems: [] });
  });

  it('collects one problem per failing string, each with its path, and keeps those strings as written', () => {
    const tree = {
      services: {
        web: { image: '${', environment: ['A=1', 'B=${SECRET:?set SECRET}'] },
        db: { image: 'postgres:${PG:-17}', command: ['run', '${BAD'] },
      },
      'x-extra': { 'com.example': '${VA R}' },
    };
    expect(interpolateTree(tree, lookup)).toEqual({
      value: {
        services: {
          web: { image: '${', environment: ['A=1', 'B=${SECRET:?set SECRET}'] },
          db: { image: 'postgres:17', command: ['run', '${BAD'] },
        },
        'x-extra': { 'com.example': '${VA R}' },
      },
      problems: [
        { path: ['services', 'web', 'image'], message: formatError('${') },
        {
          path: ['services', 'web', 'environment', 1],
          message: 'required variable SECRET is missing a value: set SECRET',
        },
        { path: ['services', 'db', 'command', 1], message: formatError('${BAD') },
        { path: ['x-extra', 'com.example'], message: formatError('${VA R}') },
      ],
    });
  });

  it('does not mutate its input', () => {
    const tree = { a: ['$FOO', { b: '${MISSING:-x}' }], c: '${' };
    const before = structuredClone(tree);
    const result = interpolateTree(tree, lookup);
    expect(tree).toEqual(before);
    expect(result.value).toEqual({ a: ['first', { b: 'x' }], c: '${' });
    expect(result.value).not.toBe(tree);
  });

  it('keeps a __proto__ key as an own key', () => {
    const tree: unknown = JSON.parse('{"__proto__": "${FOO}"}');
    const { value } = interpolateTree(tree, lookup);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toBe('first');
  });

  it('returns objects that are not plain data as they are', () => {
    const when = new Date(0);
    const { value } = interpolateTree({ when }, lookup);
    expect(value).toEqual({ when });
    expect((value as { when: Date }).when).toBe(when);
  });
});
