// `holdfast metrics`: the daemon's OpenMetrics text, as is (with --json: {"metrics": text}).
import type { Command } from 'commander';
import { GlobalOptions, printJson, withAdmin } from '../cli-context';

export function registerMetrics(program: Command): void {
  program
    .command('metrics')
    .description('print the OpenMetrics exposition (locks, clients, requests, latency, swaps, re-execs, restarts, owner kills; the cluster where one is configured)')
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<GlobalOptions>();
      const text = await withAdmin(opts, (c) => c.metrics());
      if (opts.json) printJson({ metrics: text });
      else process.stdout.write(text);
    });
}
