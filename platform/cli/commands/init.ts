/** `ignition init <dir> --template <name>`: scaffolds a function from templates/. */
import { Option } from 'clipanion';
import { accessSync, constants, cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaseCommand } from '../base.ts';
import { BadRequest, Conflict, NotFound } from '../../errors.ts';
import { assertFunctionName } from '../../functions/names.ts';
import { printJson } from '../output.ts';

export function templatesDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const c of [path.join(here, '..', 'templates'), path.join(here, '..', '..', 'templates'), path.join(here, '..', '..', '..', 'templates')]) {
    if (existsSync(path.join(c, 'hello'))) return c;
  }
  throw NotFound(`cannot find the templates folder near ${here}`);
}

export function listTemplates(): string[] {
  return readdirSync(templatesDir(), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

export class InitCommand extends BaseCommand {
  static paths = [['init']];
  static usage = BaseCommand.Usage({
    description: 'Scaffold a new function from a template (hello, hono, json-api)',
    examples: [['A Hono app', 'ignition init my-api --template hono']],
  });
  dir = Option.String({ required: true });
  template = Option.String('--template,-t', 'hello');
  name = Option.String('--name', { description: 'Function name (default: the directory name)' });

  async run() {
    const templates = listTemplates();
    if (!templates.includes(this.template)) throw BadRequest(`unknown template "${this.template}"; choose one of ${templates.join(', ')}`);
    const dest = path.resolve(this.dir);
    if (existsSync(dest) && readdirSync(dest).length > 0) throw Conflict(`${dest} exists and is not empty`);
    const name = assertFunctionName(this.name ?? path.basename(dest).toLowerCase());
    cpSync(path.join(templatesDir(), this.template), dest, { recursive: true, filter: (src) => !src.includes('node_modules') });
    const pkgFile = path.join(dest, 'package.json');
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as Record<string, unknown>;
    pkg.name = name;
    writeFileSync(pkgFile, JSON.stringify(pkg, null, 2) + '\n');
    const next = nextSteps(this.dir);
    if (this.json) return printJson({ dir: dest, template: this.template, name, next });
    let text = `Created ${name} from the ${this.template} template in ${dest}\nNext: ${next}\n`;
    // The last step and the scaffold's `npm run deploy` run `ignition` from PATH; say how to get
    // it there rather than print a command that cannot run.
    if (!onPath('ignition')) {
      text += `Note: \`ignition\` is not on your PATH; run \`npm link --ignore-scripts\` in ${path.dirname(templatesDir())} (README: The ignition command)\n`;
    }
    this.context.stdout.write(text);
  }
}

/** What to run after `init <dir>`: the same steps the README's Scaffolding section shows. */
export function nextSteps(dir: string): string {
  return `cd ${shellWord(dir)} && npm install && npm test && ignition deploy .`;
}

/** `word` quoted for a POSIX shell when it needs it, so the printed line can be pasted. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

function onPath(command: string, env: NodeJS.ProcessEnv = process.env): boolean {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}
