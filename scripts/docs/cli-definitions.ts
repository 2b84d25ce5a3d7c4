// The two command lines as commander defines them, read from the CLI modules themselves (their parse is
// intercepted, so nothing runs): the one source of every flag and command the man pages and the bash
// completion list. Run directly, prints them as JSON (what the documentation test compares against).
import { Command, type Option } from 'commander';
import { join } from 'node:path';

export interface OptionDefinition {
  /** As --help shows it, e.g. "-p, --pid-file <file>". */
  term: string;
  /** Every spelling: "-p", "--pid-file". */
  names: string[];
  /** Description with its default, as --help shows it. */
  description: string;
  takesValue: boolean;
}

export interface CommandDefinition {
  name: string;
  /** The usage after the program name, e.g. "[options] <path>". */
  usage: string;
  description: string;
  arguments: { name: string; description: string; required: boolean }[];
  options: OptionDefinition[];
  commands: CommandDefinition[];
}

const CLI_DIR = join(__dirname, '..', '..', 'src', 'cli');

function option(help: ReturnType<Command['createHelp']>, opt: Option): OptionDefinition {
  return {
    term: help.optionTerm(opt),
    names: [opt.short, opt.long].filter((n): n is string => typeof n === 'string'),
    description: help.optionDescription(opt),
    takesValue: opt.required || opt.optional,
  };
}

function describe(cmd: Command): CommandDefinition {
  const help = cmd.createHelp();
  return {
    name: cmd.name(),
    usage: cmd.usage(),
    description: cmd.description(),
    arguments: help.visibleArguments(cmd).map((a) => ({ name: a.name(), description: a.description, required: a.required })),
    options: help.visibleOptions(cmd).map((o) => option(help, o)),
    commands: help.visibleCommands(cmd).filter((c) => c.name() !== 'help').map(describe),
  };
}

/** Loads src/cli/<name>.js with its parse intercepted and returns its program. */
function capture(name: 'holdfastd' | 'holdfast'): CommandDefinition {
  const captured: Command[] = [];
  const parseAsync = Command.prototype.parseAsync;
  Command.prototype.parseAsync = function (this: Command) {
    captured.push(this);
    return new Promise<Command>(() => {}); // never parses: nothing of the program runs
  };
  try {
    require(join(CLI_DIR, `${name}.js`));
  } finally {
    Command.prototype.parseAsync = parseAsync;
  }
  if (captured.length !== 1) throw new Error(`src/cli/${name}.js defined ${captured.length} programs, not one`);
  return describe(captured[0]!);
}

export function loadCliDefinitions(): { holdfastd: CommandDefinition; holdfast: CommandDefinition } {
  return { holdfastd: capture('holdfastd'), holdfast: capture('holdfast') };
}

if (require.main === module) {
  process.stdout.write(`${JSON.stringify(loadCliDefinitions(), null, 2)}\n`);
  process.exit(0); // the daemon's signal intake, loaded with it, would keep this process alive
}
