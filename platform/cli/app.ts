/**
 * The `ignition` command line (loaded by main.ts). Every command is a thin client of the daemon's REST API, except
 * `daemon` (runs it), `init` (scaffolds files) and the bundling step of `deploy` (local esbuild).
 * Heavy modules are imported inside the commands that need them, so `ignition --version` starts
 * about as fast as Node itself.
 */
import { Builtins, Cli } from 'clipanion';
import { VERSION } from '../version.ts';
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
])
  cli.register(command);
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);

/** Runs the CLI; commands that leave handles open (the daemon) never return. */
export async function run(argv: string[]): Promise<number> {
  return cli.run(argv);
}
