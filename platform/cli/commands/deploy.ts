/**
 * `ignition deploy <dir|file>`: bundle locally with esbuild, upload, and print the function's URL.
 * A directory's entry is found as bundle.ts says; a file is the entry itself.
 */
import { Option } from 'clipanion';
import path from 'node:path';
import { BaseCommand } from '../base.ts';
import { printJson, progress } from '../output.ts';
import { BadRequest, InvalidName } from '../../errors.ts';
import { functionChecks, type FunctionSettings } from '../../config/schema.ts';
import { assertFunctionName, suggestFunctionName } from '../../functions/names.ts';
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
    description: 'Bundle a function directory (or its entry file) and deploy it as a new version',
    details: `
      A redeploy keeps the previous version's environment and settings unless it changes them, as a code update on Lambda keeps the function's configuration. \`--env KEY=VALUE\` sets or replaces one variable, \`--unset-env KEY\` removes one, and every other keeps its value. A setting given by a flag, package.json's "ignition" key or ignition.json replaces the previous value; a setting none of them gives keeps it, and \`null\` in ignition.json returns it to the daemon's default. The deploy prints what changed: \`env: +ADDED, ~CHANGED, -REMOVED\` and each setting's old and new value.
    `,
    examples: [
      ['Deploy the hello example', 'ignition deploy functions/hello'],
      ['Deploy one file (named after it: worker)', 'ignition deploy ./src/worker.ts'],
      ['Name it and pass environment', 'ignition deploy ./api --name api --env GREETING=hi'],
      ['Redeploy, changing one variable and removing another', 'ignition deploy ./api --env GREETING=hello --unset-env DEBUG'],
    ],
  });

  dir = Option.String({ required: true, name: 'dir|file' });
  name = Option.String('--name', { description: 'Function name (default: package.json name or the directory name)' });
  env = Option.Array('--env', [], { description: 'Set KEY=VALUE in the environment; other names keep their values (repeatable)' });
  unsetEnv = Option.Array('--unset-env', [], { description: 'Remove KEY from the environment (repeatable)' });
  alias = Option.String('--alias', { description: 'Alias to move to the new version (default: latest)' });
  minWarm = Option.String('--min-warm', { description: 'Idle instances kept ready (0 = scale to zero)' });
  maxInstances = Option.String('--max-instances', { description: 'Instances at most' });
  concurrency = Option.String('--concurrency', { description: 'Requests one instance serves at once' });
  timeout = Option.String('--timeout', { description: 'Per-request timeout in ms' });
  memory = Option.String('--memory', { description: 'Memory in MiB' });
  isolation = Option.String('--isolation', { description: 'reuse | fresh' });
  network = Option.Boolean('--network', { description: 'Allow the function to reach the network (--no-network: not)' });

  async run() {
    // Everything the user typed is checked before anything is bundled or sent, and each error
    // names the flag as typed.
    const flags = settingsFromFlags({
      '--min-warm': ['minWarm', this.minWarm],
      '--max-instances': ['maxInstances', this.maxInstances],
      '--concurrency': ['concurrency', this.concurrency],
      '--timeout': ['timeoutMs', this.timeout],
      '--memory': ['memoryMiB', this.memory],
      '--isolation': ['isolation', this.isolation],
    });
    if (this.network !== undefined) flags.network = this.network;
    if (this.name !== undefined) functionName(this.name, '--name');
    const patch = envPatch(parseEnvFlags(this.env), this.unsetEnv);
    const { bundleFunction } = await import('../../functions/bundle.ts');
    const p = this.json ? undefined : progress(`Bundling ${this.dir}`);
    try {
      const bundle = await bundleFunction(path.resolve(this.dir));
      const name = this.name ?? functionName(bundle.defaultName.name, `function name from ${bundle.defaultName.from}`);
      p?.update(`Deploying ${name} (${(bundle.code.length / 1024).toFixed(1)} KiB)`);
      const res = await this.client.deploy(name, {
        code: bundle.code,
        map: bundle.map,
        entry: bundle.entry,
        settings: { ...bundle.settings, ...flags },
        envPatch: patch,
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

/**
 * Settings from deploy flags, checked as the daemon checks them but named as typed:
 * `--memory must be an integer from 16 to 32768 (got "-5")`.
 */
export function settingsFromFlags(given: Record<string, [keyof FunctionSettings, string | undefined]>): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const [flag, [key, text]] of Object.entries(given)) {
    if (text === undefined) continue;
    const value = key === 'isolation' ? text : text.trim() === '' ? NaN : Number(text);
    const problem = functionChecks[key](value);
    if (problem) throw BadRequest(`${flag} ${problem} (got ${JSON.stringify(text)})`);
    settings[key] = value;
  }
  return settings;
}

/**
 * A valid function name, or an `invalid_name` error that names where the name came from and
 * suggests one that would do.
 */
export function functionName(name: string, what: string): string {
  try {
    return assertFunctionName(name, what);
  } catch (err) {
    if (!InvalidName.is(err)) throw err;
    const suggestion = suggestFunctionName(name);
    const hint = suggestion && suggestion !== name ? `; deploy with --name ${suggestion}` : what === '--name' ? '' : '; name it with --name';
    throw InvalidName(`${err.message}${hint}`);
  }
}
