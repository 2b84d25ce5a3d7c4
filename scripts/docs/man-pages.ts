// holdfastd(8) and holdfast(1) in roff, from the command lines (cli-definitions.ts), the settings schema and
// reference.ts.
import { SETTINGS_SCHEMA } from '../../src/supervisor/config/schema';
import type { CommandDefinition } from './cli-definitions';
import * as ref from './reference';
import { header, paragraph, section, subsection, tagged, text } from './roff';

interface SchemaProperty {
  type: string;
  default?: unknown;
  enum?: readonly unknown[];
  minimum?: number;
  maximum?: number;
  multipleOf?: number;
  items?: { type: string };
  description: string;
}

function options(cmd: CommandDefinition): string[] {
  return cmd.options.map((o) => tagged(o.term, o.description));
}

function entries(list: ref.Entry[]): string[] {
  return list.map((e) => tagged(e.term, e.text));
}

function configKeys(): string[] {
  const properties = SETTINGS_SCHEMA.properties as Record<string, SchemaProperty>;
  return Object.entries(properties).map(([key, p]) => {
    const kind = p.enum ? p.enum.map((v) => JSON.stringify(v)).join(' | ') : p.type === 'array' ? `list of ${p.items?.type ?? 'value'}s` : p.type;
    const step = p.multipleOf !== undefined ? ` in steps of ${p.multipleOf}` : '';
    const range = p.minimum !== undefined && p.maximum !== undefined ? ` ${p.minimum}..${p.maximum}${step}` : '';
    const def = p.default !== undefined ? `; default ${JSON.stringify(p.default)}` : '';
    return tagged(key, `(${kind}${range}${def}) ${p.description}`);
  });
}

export function daemonPage(cli: CommandDefinition, version: string): string {
  return [
    header('holdfastd', 8, version, 'System Administration'),
    section('NAME'),
    'holdfastd \\- lock daemon for virtual machine disk images, in place of virtlockd',
    section('SYNOPSIS'),
    `.B holdfastd\n${text(cli.usage)}`,
    section('DESCRIPTION'),
    ...ref.DAEMON_DESCRIPTION.map(paragraph),
    section('OPTIONS'),
    ...options(cli),
    section('CONFIGURATION'),
    paragraph(ref.CONFIG_INTRO),
    ...configKeys(),
    section('SIGNALS'),
    ...entries(ref.DAEMON_SIGNALS),
    section('FILES'),
    ...entries(ref.DAEMON_FILES),
    section('ENVIRONMENT'),
    ...entries(ref.DAEMON_ENVIRONMENT),
    section('EXIT STATUS'),
    ...entries(ref.DAEMON_EXIT_STATUS),
    section('SEE ALSO'),
    '.BR holdfast (1),\n.BR virtlockd (8),\n.BR virt\\-admin (1),\n.BR systemd.socket (5)',
    '',
  ].join('\n');
}

export function clientPage(cli: CommandDefinition, version: string): string {
  const commands = cli.commands.flatMap((c) => [
    subsection(`${c.name} ${c.usage}`.replace(/\[options\]\s*/, '').trim() + (c.options.length > 1 ? ' [options]' : '')),
    text(c.description),
    ...c.arguments.map((a) => tagged(a.required ? `<${a.name}>` : `[${a.name}]`, a.description)),
    ...c.options.filter((o) => !o.names.includes('--help')).map((o) => tagged(o.term, o.description)),
  ]);
  return [
    header('holdfast', 1, version, 'User Commands'),
    section('NAME'),
    'holdfast \\- operate a running holdfastd through its admin socket',
    section('SYNOPSIS'),
    `.B holdfast\n${text('[options] <command> [command options]')}`,
    section('DESCRIPTION'),
    ...ref.CLIENT_DESCRIPTION.map(paragraph),
    section('OPTIONS'),
    ...options(cli),
    section('COMMANDS'),
    ...commands,
    section('FILES'),
    ...entries(ref.CLIENT_FILES),
    section('ENVIRONMENT'),
    ...entries(ref.CLIENT_ENVIRONMENT),
    section('EXIT STATUS'),
    ...entries(ref.CLIENT_EXIT_STATUS),
    section('SEE ALSO'),
    '.BR holdfastd (8),\n.BR virt\\-admin (1)',
    '',
  ].join('\n');
}
