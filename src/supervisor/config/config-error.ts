// ConfigError: the one error type for a config file or setting that cannot be used.
// Its message is always "<file>:<line>: <what>" when a file and line are known.

/** Where a setting came from: a line of a config file, or the command line. */
export interface SettingOrigin {
  /** Config file path as it was given, or the literal 'command line'. */
  file: string;
  /** 1-based line of the key in that file; absent for the command line. */
  line?: number;
}

/** One problem found in a config file or in the command-line overrides. */
export interface ConfigProblem extends SettingOrigin {
  /** What is wrong, without the file/line prefix. */
  what: string;
}

/** Formats a problem as "<file>:<line>: <what>" (or "<file>: <what>" without a line). */
export function formatProblem(p: ConfigProblem): string {
  return p.line === undefined ? `${p.file}: ${p.what}` : `${p.file}:${p.line}: ${p.what}`;
}

/**
 * Thrown when a config file cannot be read or parsed, or a setting is unknown or invalid.
 * `problems` lists every problem found (sorted by file order); `message` joins them, one per line.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: ConfigProblem | readonly ConfigProblem[]) {
    const list = Array.isArray(problems) ? [...(problems as readonly ConfigProblem[])] : [problems as ConfigProblem];
    super(list.map(formatProblem).join('\n'));
    this.problems = list;
  }

  /** File of the first problem. */
  get file(): string {
    return this.problems[0]?.file ?? '';
  }

  /** Line of the first problem, if known. */
  get line(): number | undefined {
    return this.problems[0]?.line;
  }
}
