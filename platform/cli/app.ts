/**
 * The `ignition` command line (loaded by main.ts). Every command is a thin client of the daemon's REST API, except
 * `daemon` (runs it), `init` (scaffolds files) and the bundling step of `deploy` (local esbuild).
 * Heavy modules are imported inside the commands that need them, so `ignition --version` starts
 * about as fast as Node itself.
 */
import { Builtins, Cli } from 'clipanion';
import { VERSION } from '../version.ts';
import { BadRequest } from '../errors.ts';
import { errorLine } from './output.ts';
import { DaemonCommand } from './commands/daemon.ts';
import { DeployCommand } from './commands/deploy.ts';
import { InvokeCommand } from './commands/invoke.ts';
import { InfoCommand, ListCommand, RemoveCommand, VersionsCommand } from './commands/functions.ts';
import { LogsCommand } from './commands/logs.ts';
import { InitCommand } from './commands/init.ts';
import { vmCommands } from './commands/vm.ts';
import { versionCommands } from './commands/versions.ts';
import { DevCommand } from './commands/dev.ts';
import { DoctorCommand } from './commands/doctor.ts';
import { ImageBuildCommand } from './commands/image.ts';
import { registryCommands } from './commands/registry.ts';
import { NetListCommand } from './commands/net.ts';
import { tokenCommands } from './commands/token.ts';
import { secretCommands } from './commands/secret.ts';
import { asyncCommands } from './commands/async.ts';
import { envCommands } from './commands/env.ts';
import { ConsoleCommand } from './commands/console.ts';

const cli = new Cli({ binaryName: 'ignition', binaryLabel: 'Ignition', binaryVersion: VERSION });
for (const command of [
  DaemonCommand,
  DeployCommand,
  InvokeCommand,
  ListCommand,
  RemoveCommand,
  VersionsCommand,
  InfoCommand,
  LogsCommand,
  InitCommand,
  ...vmCommands,
  ...versionCommands,
  DevCommand,
  DoctorCommand,
  ImageBuildCommand,
  ...registryCommands,
  NetListCommand,
  ...tokenCommands,
  ...secretCommands,
  ...asyncCommands,
  ...envCommands,
  ConsoleCommand,
])
  cli.register(command);
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);

/** Runs the CLI; commands that leave handles open (the daemon) never return. */
export async function run(argv: string[]): Promise<number> {
  if (argv.length === 0) return cli.run(argv);
  const args = negativeValues(argv);
  let command;
  try {
    command = cli.process(args);
  } catch (err) {
    // A command line that does not parse fails as every other failure does: one line on stderr
    // and a non-zero exit, rather than clipanion's usage text on stdout, where a script would
    // take it for output.
    process.stderr.write(`${errorLine(BadRequest(`${firstLine(err)}; see "${usagePath(args)} --help"`))}\n`);
    return 1;
  }
  return cli.run(command);
}

/**
 * `--memory -5` as `--memory=-5`: clipanion takes a value that starts with "-" for an option of
 * its own and fails with "not enough arguments", so the number would never reach the command's
 * own check, which names the flag and the range. Only numbers are joined, and nothing after `--`.
 */
export function negativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return [...out, ...argv.slice(i)];
    const next = argv[i + 1];
    if (/^--[^=]+$/.test(a) && next !== undefined && /^-\d+(\.\d+)?$/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** clipanion's message without its candidate list and closing punctuation. */
function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err)
    .split('\n')[0]
    .replace(/; did you mean.*$/, '')
    .replace(/[.:]+$/, '')
    .trim();
}

/** `ignition <command>` for the longest command path the arguments start with. */
function usagePath(argv: string[]): string {
  let best = '';
  for (const { path } of cli.definitions()) {
    const words = path.split(' ').slice(1);
    if (words.length > best.split(' ').length - 1 && words.every((w, i) => argv[i] === w)) best = path;
  }
  return best || 'ignition';
}
