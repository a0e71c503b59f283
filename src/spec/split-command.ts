import type { Parsed } from './syntax/parsed.js';

/**
 * Splits a command string into words as compose does (shell quoting rules, no expansion):
 * `sh -c 'echo "hi there"'` is `['sh', '-c', 'echo "hi there"']`.
 */
export function splitCommand(text: string): Parsed<string[]> {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index]!;
    if (quote === "'") {
      if (char === "'") quote = null;
      else word += char;
      continue;
    }
    if (char === '\\') {
      const next = text[index + 1];
      if (next === undefined) return { error: `"${text}" ends with a lone backslash` };
      // Inside double quotes a backslash only escapes the characters the shell gives meaning to there.
      if (quote === '"' && !'"\\$`\n'.includes(next)) word += char;
      word += next;
      index += 1;
      inWord = true;
      continue;
    }
    if (quote === '"') {
      if (char === '"') quote = null;
      else word += char;
      continue;
    }
    if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
      continue;
    }
    if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    word += char;
    inWord = true;
  }
  if (quote !== null)
    return { error: `"${text}" has an unterminated ${quote === '"' ? 'double' : 'single'} quote` };
  if (inWord) words.push(word);
  return { value: words };
}
