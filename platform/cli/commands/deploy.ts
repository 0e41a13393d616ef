/** `ignition deploy <dir>`: bundle locally with esbuild, upload, and print the function's URL. */
import { Option } from 'clipanion';
import path from 'node:path';
import { BaseCommand } from '../base.ts';
import { printJson, progress } from '../output.ts';
import { BadRequest } from '../../errors.ts';
import type { DeployResponse } from '../client.ts';

/** `--env KEY=VALUE` flags as an env patch: each sets its name (an empty value is a value). */
export function parseEnvFlags(flags: string[], option = '--env'): Record<string, string> {
  const env: Record<string, string> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw BadRequest(`${option} ${JSON.stringify(f)} must be KEY=VALUE`);
    env[f.slice(0, eq)] = f.slice(eq + 1);
  }
  return env;
}

/** An env patch from names to set (`--env`) and names to remove (`--unset-env`); undefined when empty. */
export function envPatch(set: Record<string, string>, unset: string[]): Record<string, string | null> | undefined {
  const patch: Record<string, string | null> = { ...set };
  for (const k of unset) {
    if (Object.hasOwn(set, k)) throw BadRequest(`${k} is both set (--env) and unset (--unset-env); say one`);
    patch[k] = null;
  }
  return Object.keys(patch).length ? patch : undefined;
}

/** What a deploy changed, one line per kind (`env: +B, ~A, -C`); none when nothing changed. */
export function describeChanges(changes: DeployResponse['changes'] | undefined): string[] {
  if (!changes) return [];
  const lines: string[] = [];
  const { added, changed, removed } = changes.env;
  const env = [...added.map((k) => `+${k}`), ...changed.map((k) => `~${k}`), ...removed.map((k) => `-${k}`)];
  if (env.length) lines.push(`env: ${env.join(', ')}`);
  if (changes.settings.length)
    lines.push(`settings: ${changes.settings.map((c) => `${c.name} ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`).join(', ')}`);
  return lines;
}

export class DeployCommand extends BaseCommand {
  static paths = [['deploy']];
  static usage = BaseCommand.Usage({
    description: 'Bundle a function directory and deploy it as a new version',
    details: `
      A redeploy keeps the previous version's environment and settings unless it changes them, as a code update on Lambda keeps the function's configuration. \`--env KEY=VALUE\` sets or replaces one variable, \`--unset-env KEY\` removes one, and every other keeps its value. A setting given by a flag, package.json's "ignition" key or ignition.json replaces the previous value; a setting none of them gives keeps it, and \`null\` in ignition.json returns it to the daemon's default. The deploy prints what changed: \`env: +ADDED, ~CHANGED, -REMOVED\` and each setting's old and new value.
    `,
    examples: [
      ['Deploy the hello example', 'ignition deploy functions/hello'],
      ['Name it and pass environment', 'ignition deploy ./api --name api --env GREETING=hi'],
      ['Redeploy, changing one variable and removing another', 'ignition deploy ./api --env GREETING=hello --unset-env DEBUG'],
    ],
  });

  dir = Option.String({ required: true });
  name = Option.String('--name', { description: 'Function name (default: package.json name or the directory name)' });
  env = Option.Array('--env', [], { description: 'Set KEY=VALUE in the environment; other names keep their values (repeatable)' });
  unsetEnv = Option.Array('--unset-env', [], { description: 'Remove KEY from the environment (repeatable)' });
  alias = Option.String('--alias', { description: 'Alias to move to the new version (default: latest)' });
  minWarm = Option.String('--min-warm');
  maxInstances = Option.String('--max-instances');
  concurrency = Option.String('--concurrency');
  timeout = Option.String('--timeout', { description: 'Per-request timeout in ms' });
  memory = Option.String('--memory', { description: 'Memory in MiB' });
  isolation = Option.String('--isolation', { description: 'reuse | fresh' });
  network = Option.Boolean('--network', { description: 'Allow the function to reach the network' });

  async run() {
    const { bundleFunction } = await import('../../functions/bundle.ts');
    const dir = path.resolve(this.dir);
    const p = this.json ? undefined : progress(`Bundling ${this.dir}`);
    try {
      const bundle = await bundleFunction(dir);
      const name = this.name ?? bundle.packageName ?? path.basename(dir);
      const flags: Record<string, unknown> = {};
      const num = (v: string | undefined, key: string) => {
        if (v === undefined) return;
        const n = Number(v);
        if (!Number.isFinite(n)) throw BadRequest(`--${key} must be a number (got ${JSON.stringify(v)})`);
        flags[key] = n;
      };
      num(this.minWarm, 'minWarm');
      num(this.maxInstances, 'maxInstances');
      num(this.concurrency, 'concurrency');
      num(this.timeout, 'timeoutMs');
      num(this.memory, 'memoryMiB');
      if (this.isolation !== undefined) flags.isolation = this.isolation;
      if (this.network !== undefined) flags.network = this.network;
      p?.update(`Deploying ${name} (${(bundle.code.length / 1024).toFixed(1)} KiB)`);
      const res = await this.client.deploy(name, {
        code: bundle.code,
        map: bundle.map,
        entry: bundle.entry,
        settings: { ...bundle.settings, ...flags },
        envPatch: envPatch(parseEnvFlags(this.env), this.unsetEnv),
        alias: this.alias,
      });
      p?.done(res.created ? `Deployed ${res.function} v${res.version.seq}` : `Unchanged: ${res.function} v${res.version.seq}`);
      if (!this.json) for (const line of describeChanges(res.changes)) this.context.stderr.write(`${line}\n`);
      if (this.json) printJson(res);
      else this.context.stdout.write(`${res.url}\n`);
    } finally {
      p?.done();
    }
  }
}
