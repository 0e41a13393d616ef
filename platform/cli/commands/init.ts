/** `ignition init <dir> --template <name>`: scaffolds a function from templates/. */
import { Option } from 'clipanion';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
    if (this.json) return printJson({ dir: dest, template: this.template, name });
    this.context.stdout.write(
      `Created ${name} from the ${this.template} template in ${dest}\nNext: cd ${this.dir} && npm install && npm test && ignition deploy .\n`,
    );
  }
}
