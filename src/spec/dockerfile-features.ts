/**
 * What in a Dockerfile needs BuildKit. heal builds through the Engine API's classic builder
 * (`POST /build`), which fails on some of these and, worse, reads others differently (a heredoc
 * body becomes instructions; a `# syntax=` line is a comment): such a file is refused before
 * anything is sent, with the feature's line and what to do instead.
 */
export type BuildKitFeature = { readonly line: number; readonly feature: string };

const FLAGS: readonly { readonly instruction: string; readonly flag: string; readonly feature: string }[] = [
  { instruction: 'RUN', flag: '--mount', feature: '`RUN --mount` (cache, secret and bind mounts)' },
  { instruction: 'RUN', flag: '--network', feature: '`RUN --network`' },
  { instruction: 'RUN', flag: '--security', feature: '`RUN --security`' },
  { instruction: 'COPY', flag: '--link', feature: '`COPY --link`' },
  { instruction: 'ADD', flag: '--link', feature: '`ADD --link`' },
  { instruction: 'COPY', flag: '--parents', feature: '`COPY --parents`' },
  { instruction: 'COPY', flag: '--exclude', feature: '`COPY --exclude`' },
  { instruction: 'ADD', flag: '--keep-git-dir', feature: '`ADD --keep-git-dir`' },
  { instruction: 'ADD', flag: '--checksum', feature: '`ADD --checksum`' },
  { instruction: 'ADD', flag: '--chmod', feature: '`ADD --chmod`' },
  { instruction: 'COPY', flag: '--chmod', feature: '`COPY --chmod`' },
];

/** The BuildKit-only features a Dockerfile uses, in line order (line numbers from 1). */
export function buildKitFeatures(text: string): BuildKitFeature[] {
  const out: BuildKitFeature[] = [];
  const lines = text.split(/\r?\n/);
  let header = true;
  let instruction: { word: string; line: number; text: string } | null = null;
  const finish = (): void => {
    if (!instruction) return;
    const { word, line, text: body } = instruction;
    instruction = null;
    for (const { instruction: name, flag, feature } of FLAGS)
      if (word === name && new RegExp(`(^|\\s)${flag}(=|\\s|$)`).test(flagsOf(body)))
        out.push({ line, feature });
    if ((word === 'RUN' || word === 'COPY' || word === 'ADD') && /<<-?\s*["']?[A-Za-z_][\w]*["']?/.test(body))
      out.push({ line, feature: `a heredoc in ${word} (\`<<EOF\`)` });
  };
  lines.forEach((raw, index) => {
    const line = raw.trim();
    // Parser directives: comments before the first instruction or blank line (`# syntax=`, `# check=`).
    if (header) {
      const directive = /^#\s*(syntax|check)\s*=/i.exec(line);
      if (directive)
        out.push({ line: index + 1, feature: `the \`# ${directive[1]!.toLowerCase()}=\` directive` });
      if (!line.startsWith('#') || line === '') header = false;
    }
    if (line.startsWith('#')) return;
    if (instruction) {
      instruction.text += ` ${line}`;
    } else if (line !== '') {
      const word = /^(\S+)/.exec(line)![1]!.toUpperCase();
      instruction = { word, line: index + 1, text: line.slice(word.length) };
    }
    if (instruction && !line.endsWith('\\')) finish();
  });
  finish();
  return out;
}

/** The flags at the start of an instruction's arguments (`--mount=... --network=none cmd`). */
function flagsOf(body: string): string {
  const words = body.replace(/\\\s*/g, ' ').trim().split(/\s+/);
  const flags: string[] = [];
  for (const word of words) {
    if (!word.startsWith('--')) break;
    flags.push(word);
  }
  return flags.join(' ');
}
