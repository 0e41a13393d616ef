/**
 * `ignition env …`: a function's plain environment variables.
 *   env ls <fn>   env set <fn> KEY=VALUE…   env unset <fn> KEY…
 *
 * Versions are immutable and carry their environment, so `set` and `unset` deploy a new version:
 * the deployed code with the changed environment (a configuration change, as on Lambda). The
 * change is then visible in `ignition versions` and undone by `ignition rollback`, and instances
 * that run the old environment drain like any deploy's. Values are never printed: the API lists
 * names only, and secrets belong in `ignition secret`.
 */
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { printJson, progress } from '../output.ts';
import { BadRequest } from '../../errors.ts';
import { describeChanges, parseEnvFlags } from './deploy.ts';
import type { DeployResponse } from '../client.ts';

export class EnvListCommand extends BaseCommand {
  static paths = [['env', 'ls']];
  static usage = Command.Usage({ description: "List the names of a function's environment variables (latest version)" });
  fn = Option.String({ required: true });
  async run() {
    const f = await this.client.getFunction(this.fn);
    const keys = [...(f.envKeys as string[])].sort();
    if (this.json) return printJson({ function: f.name, version: f.latest?.seq ?? null, keys });
    if (!keys.length) this.context.stdout.write(`No environment variables for ${f.name}.\n`);
    else this.context.stdout.write(keys.map((k) => `${k}\n`).join(''));
  }
}

abstract class EnvChangeCommand extends BaseCommand {
  fn = Option.String({ required: true });
  alias = Option.String('--alias', { description: 'Alias to move to the new version (default: latest)' });

  protected async change(envPatch: Record<string, string | null>) {
    const p = this.json ? undefined : progress(`Deploying ${this.fn} with the changed environment`);
    let res: DeployResponse;
    try {
      res = await this.client.deploy(this.fn, { envPatch, alias: this.alias });
    } finally {
      p?.done();
    }
    if (this.json) return printJson(res);
    const changes = describeChanges(res.changes);
    const head = res.created ? `Deployed ${res.function} v${res.version.seq}` : `Unchanged: ${res.function} v${res.version.seq}`;
    this.context.stdout.write(`${[head, ...changes].join('\n')}\n`);
  }
}

export class EnvSetCommand extends EnvChangeCommand {
  static paths = [['env', 'set']];
  static usage = Command.Usage({
    description: 'Set environment variables of a function (deploys a new version with the deployed code)',
    examples: [['Set two', 'ignition env set api GREETING=hello LEVEL=debug']],
  });
  pairs = Option.Rest({ required: 1 });
  async run() {
    await this.change(parseEnvFlags(this.pairs, 'env set'));
  }
}

export class EnvUnsetCommand extends EnvChangeCommand {
  static paths = [['env', 'unset']];
  static usage = Command.Usage({
    description: 'Remove environment variables of a function (deploys a new version with the deployed code)',
    examples: [['Remove one', 'ignition env unset api LEVEL']],
  });
  names = Option.Rest({ required: 1 });
  async run() {
    const bad = this.names.find((n) => n.includes('='));
    if (bad !== undefined) throw BadRequest(`env unset takes names, not KEY=VALUE (got ${JSON.stringify(bad)})`);
    await this.change(Object.fromEntries(this.names.map((n) => [n, null])));
  }
}

export const envCommands = [EnvListCommand, EnvSetCommand, EnvUnsetCommand];
