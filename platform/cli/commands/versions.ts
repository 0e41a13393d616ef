/**
 * Versions and traffic: `ignition rollback <fn> [--to V]`, `ignition alias set <fn> <alias> V=W…`,
 * `ignition alias ls <fn>`, `ignition alias rm <fn> <alias>`. Versions are named `v3`, `3` or by id.
 */
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { printJson, table } from '../output.ts';
import { BadRequest } from '../../errors.ts';

export function parseRoutes(specs: string[]): Array<{ version: string; weight: number }> {
  if (specs.length === 1 && /^[A-Za-z0-9_]+$/.test(specs[0])) return [{ version: specs[0], weight: 100 }];
  return specs.map((s) => {
    const m = /^([^=]+)=(\d+)$/.exec(s);
    if (!m) throw BadRequest(`"${s}" must be VERSION=WEIGHT, e.g. v2=90`);
    return { version: m[1], weight: Number(m[2]) };
  });
}

export class RollbackCommand extends BaseCommand {
  static paths = [['rollback']];
  static usage = Command.Usage({ description: 'Move latest back to the previous version (or --to a given one)' });
  name = Option.String({ required: true });
  to = Option.String('--to', { description: 'Version: v3, 3 or an id' });
  async run() {
    const r = await this.client.request<{ from: { seq: number }; to: { seq: number }; changed: boolean }>(
      'POST',
      `/v1/functions/${encodeURIComponent(this.name)}/rollback`,
      { to: this.to },
    );
    if (this.json) return printJson(r);
    if (!r.changed) this.context.stdout.write(`${this.name}: latest is already at v${r.to.seq}; nothing changed\n`);
    else this.context.stdout.write(`${this.name}: latest moved from v${r.from.seq} to v${r.to.seq}\n`);
  }
}

export class AliasSetCommand extends BaseCommand {
  static paths = [['alias', 'set']];
  static usage = Command.Usage({
    description: 'Point an alias at a version, or split its traffic between two (weights sum to 100)',
    examples: [
      ['Canary 10%', 'ignition alias set api latest v1=90 v2=10'],
      ['Pin', 'ignition alias set api stable v1'],
    ],
  });
  name = Option.String({ required: true });
  alias = Option.String({ required: true });
  routes = Option.Rest({ required: 1 });
  async run() {
    const r = await this.client.request<{ routes: Array<{ seq: number; weight: number }> }>(
      'PUT',
      `/v1/functions/${encodeURIComponent(this.name)}/aliases/${encodeURIComponent(this.alias)}`,
      { routes: parseRoutes(this.routes) },
    );
    if (this.json) return printJson(r);
    this.context.stdout.write(`${this.name}@${this.alias} → ${r.routes.map((x) => `v${x.seq} ${x.weight}%`).join(', ')}\n`);
  }
}

export class AliasListCommand extends BaseCommand {
  static paths = [['alias', 'ls']];
  static usage = Command.Usage({ description: 'List the aliases of a function' });
  name = Option.String({ required: true });
  async run() {
    const [{ aliases }, { versions }] = await Promise.all([
      this.client.request<{ aliases: Array<{ name: string; routes: Array<{ version: string; weight: number }> }> }>(
        'GET',
        `/v1/functions/${encodeURIComponent(this.name)}/aliases`,
      ),
      this.client.versions(this.name),
    ]);
    if (this.json) return printJson(aliases);
    const seq = (id: string) => `v${versions.find((v) => v.id === id)?.seq ?? '?'}`;
    this.context.stdout.write(
      table(
        aliases.map((a) => ({ alias: a.name, routes: a.routes.map((r) => `${seq(r.version)}=${r.weight}`).join(' ') })),
        ['alias', 'routes'],
      ),
    );
  }
}

export class AliasRemoveCommand extends BaseCommand {
  static paths = [['alias', 'rm']];
  static usage = Command.Usage({ description: 'Remove an alias (not latest)' });
  name = Option.String({ required: true });
  alias = Option.String({ required: true });
  async run() {
    const r = await this.client.request('DELETE', `/v1/functions/${encodeURIComponent(this.name)}/aliases/${encodeURIComponent(this.alias)}`);
    if (this.json) return printJson(r);
    this.context.stdout.write(`Removed alias ${this.alias}\n`);
  }
}

export const versionCommands = [RollbackCommand, AliasSetCommand, AliasListCommand, AliasRemoveCommand];
