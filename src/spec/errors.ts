/** A path into the spec document, as segments: `['services', 'web', 'ports', 0]`. */
export type KeyPath = readonly (string | number)[];

/** One thing wrong with a spec, located in its file. */
export type SpecProblem = {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly path: string;
  readonly message: string;
};

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Renders a key path the way users read it: `services.web.ports[0]`, `labels["com.example"]`. */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** `stack.yml:6:9 services.web.ports[0]: "80:abc" is not a port mapping` */
export function formatProblem(problem: SpecProblem): string {
  const where = problem.line > 0 ? `${problem.file}:${problem.line}:${problem.col}` : problem.file;
  const path = problem.path === '' ? '' : ` ${problem.path}`;
  return `${where}${path}: ${problem.message}`;
}

/** A spec that cannot be loaded: every problem found in one pass, each with its place. */
export class SpecError extends Error {
  readonly problems: readonly SpecProblem[];

  constructor(problems: readonly SpecProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'SpecError';
    this.problems = problems;
  }
}

/** In the order of the file. */
export function sortProblems(problems: readonly SpecProblem[]): SpecProblem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.col - b.col);
}
