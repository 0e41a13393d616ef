/** `ignition ls`, `ignition rm <name>`, `ignition versions <name>`, `ignition info`. */
import { Option } from 'clipanion';
import { BaseCommand } from '../base.ts';
import { printJson, table } from '../output.ts';

export class ListCommand extends BaseCommand {
  static paths = [['ls'], ['functions']];
  static usage = BaseCommand.Usage({ description: 'List deployed functions' });

  async run() {
    const { functions } = await this.client.listFunctions();
    if (this.json) return printJson(functions);
    const base = this.client.baseUrl;
    const rows = functions.map((f) => {
      const inst = (f.pools as Array<{ instances: number; inflight: number }>).reduce((a, p) => ({ n: a.n + p.instances, i: a.i + p.inflight }), {
        n: 0,
        i: 0,
      });
      return {
        name: f.name,
        version: f.latest ? `v${f.latest.seq}` : '-',
        instances: inst.n,
        inflight: inst.i,
        isolation: f.settings?.isolation,
        url: `${base}/fn/${f.name}/`,
      };
    });
    this.context.stdout.write(
      rows.length
        ? table(rows, ['name', 'version', 'instances', 'inflight', 'isolation', 'url'])
        : 'No functions deployed. Try: ignition deploy functions/hello\n',
    );
  }
}

export class RemoveCommand extends BaseCommand {
  static paths = [['rm']];
  static usage = BaseCommand.Usage({ description: 'Remove a function, its versions, instances, snapshots and logs' });
  name = Option.String({ required: true });

  async run() {
    const res = await this.client.removeFunction(this.name);
    if (this.json) return printJson(res);
    this.context.stdout.write(`Removed ${res.removed} (${res.versions} version${res.versions === 1 ? '' : 's'})\n`);
  }
}

export class VersionsCommand extends BaseCommand {
  static paths = [['versions']];
  static usage = BaseCommand.Usage({ description: 'List the versions of a function' });
  name = Option.String({ required: true });

  async run() {
    const [{ versions }, fn] = await Promise.all([this.client.versions(this.name), this.client.getFunction(this.name)]);
    if (this.json) return printJson(versions);
    const aliasOf = (id: string) =>
      (fn.aliases as Array<{ name: string; routes: Array<{ version: string; weight: number }> }>)
        .filter((a) => a.routes.some((r) => r.version === id))
        .map((a) => a.name)
        .join(',');
    this.context.stdout.write(
      table(
        versions.map((v) => ({ version: `v${v.seq}`, id: v.id, digest: v.digest.slice(0, 12), aliases: aliasOf(v.id), created: v.createdAt })),
        ['version', 'id', 'digest', 'aliases', 'created'],
      ),
    );
  }
}

export class InfoCommand extends BaseCommand {
  static paths = [['info']];
  static usage = BaseCommand.Usage({ description: 'Show the daemon: version, driver in use and why, capabilities' });

  async run() {
    const info = await this.client.info();
    if (this.json) return printJson(info);
    const d = info.driver;
    this.context.stdout.write(
      `ignition ${info.version} at ${this.client.baseUrl}\n` +
        `driver:       ${d.name} (${d.reason})\n` +
        `isolation:    ${d.capabilities.isolation}\n` +
        `snapshots:    ${d.capabilities.snapshot}, pause: ${d.capabilities.pause}, fork: ${d.capabilities.fork}\n` +
        `data dir:     ${info.dataDir}\n`,
    );
    const iso = d.isolation as { limits: Record<string, boolean>; missing: Array<{ what: string; fix: string }> } | undefined;
    if (!iso) return;
    const on = (m: Record<string, boolean>, v: boolean) =>
      Object.keys(m)
        .filter((k) => m[k] === v)
        .join(', ') || 'none';
    this.context.stdout.write(
      `limits:       ${on(iso.limits, true)}${Object.values(iso.limits).includes(false) ? ` (not in force: ${on(iso.limits, false)})` : ''}\n`,
    );
    for (const m of iso.missing) this.context.stdout.write(`missing:      ${m.what} (fix: ${m.fix})\n`);
  }
}
