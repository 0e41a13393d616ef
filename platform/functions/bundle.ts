/**
 * Bundling a function directory, or a single file, into one ESM file with esbuild.
 *
 * For a directory the entry is package.json's `exports` (string or `exports["."]`), then `main`,
 * then index.ts / index.js / src/index.ts. A file is its own entry, as `wrangler deploy
 * src/index.ts` takes one; its directory's package.json and ignition.json still give settings. Output targets Node (the runtime in the guest) with an external source
 * map, so stack traces name the user's TypeScript lines. A failed build reports esbuild's first
 * messages with file:line:column.
 *
 * Function settings come from package.json's `ignition` key or an `ignition.json` beside it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { validateFunctionSettings, type StatedSettings } from '../config/schema.ts';
import { BuildFailed, NoEntry } from './errors.ts';

export interface Bundle {
  /** Path of the entry, relative to the function directory. */
  entry: string;
  code: string;
  map: string;
  /** sha256 of the code, hex. */
  digest: string;
  /** Settings declared by the function itself. */
  settings: StatedSettings;
  /** package.json name, if any. */
  packageName?: string;
  /** The function name a deploy uses when none is given, and where it came from (for messages). */
  defaultName: { name: string; from: string };
}

const CANDIDATES = ['index.ts', 'index.mts', 'index.js', 'index.mjs', 'src/index.ts', 'src/index.js'];

interface PackageJson {
  name?: string;
  main?: string;
  exports?: string | Record<string, unknown>;
  ignition?: Record<string, unknown>;
}

function readPackage(dir: string): PackageJson | undefined {
  const file = path.join(dir, 'package.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
  } catch (err) {
    throw BuildFailed(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

export function findEntry(dir: string, pkg = readPackage(dir)): string {
  if (!existsSync(dir)) throw NoEntry(`${dir} does not exist`);
  const fromExports = typeof pkg?.exports === 'string' ? pkg.exports : exportsDot(pkg?.exports);
  for (const candidate of [fromExports, pkg?.main, ...CANDIDATES]) {
    if (candidate && existsSync(path.join(dir, candidate))) return candidate;
  }
  throw NoEntry(`no entry point in ${dir}: add package.json "main" or "exports", or an index.ts / index.js`);
}

function exportsDot(exp: PackageJson['exports']): string | undefined {
  if (!exp || typeof exp !== 'object') return undefined;
  const dot = (exp as Record<string, unknown>)['.'];
  if (typeof dot === 'string') return dot;
  if (dot && typeof dot === 'object') {
    const d = dot as Record<string, unknown>;
    for (const key of ['import', 'node', 'default']) if (typeof d[key] === 'string') return d[key] as string;
  }
  return undefined;
}

export function readFunctionSettings(dir: string, pkg = readPackage(dir)): StatedSettings {
  const jsonFile = path.join(dir, 'ignition.json');
  if (existsSync(jsonFile)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(jsonFile, 'utf8'));
    } catch (err) {
      throw BuildFailed(`${jsonFile} is not valid JSON: ${(err as Error).message}`, { phase: 'validate' });
    }
    return validateFunctionSettings(parsed as Record<string, unknown>, jsonFile);
  }
  if (pkg?.ignition) return validateFunctionSettings(pkg.ignition, `${path.join(dir, 'package.json')} "ignition"`);
  return {};
}

/**
 * Bundles `target`: a function directory, or one file that is the entry. The default name is
 * package.json's name, else the directory's; for a file, the file's name without its extension
 * (the directory's for an index file, which names nothing).
 */
export async function bundleFunction(target: string): Promise<Bundle> {
  const resolved = path.resolve(target);
  const file = existsSync(resolved) && statSync(resolved).isFile();
  const dir = file ? path.dirname(resolved) : resolved;
  const pkg = readPackage(dir);
  const entry = file ? path.basename(resolved) : findEntry(dir, pkg);
  const packageName = pkg?.name?.replace(/^@[^/]+\//, '');
  const stem = path.basename(entry, path.extname(entry));
  const defaultName = file
    ? stem === 'index'
      ? { name: path.basename(dir), from: 'the directory name' }
      : { name: stem, from: 'the file name' }
    : packageName
      ? { name: packageName, from: 'package.json "name"' }
      : { name: path.basename(dir), from: 'the directory name' };
  const settings = readFunctionSettings(dir, pkg);
  const { build } = await import('esbuild');
  let result;
  try {
    result = await build({
      entryPoints: [path.join(dir, entry)],
      absWorkingDir: dir,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: 'function.mjs',
      sourcemap: 'linked',
      sourcesContent: true,
      write: false,
      logLevel: 'silent',
      // CommonJS dependencies inside an ESM bundle still call require() for Node built-ins.
      banner: { js: "import { createRequire as __fnRequire } from 'node:module'; const require = __fnRequire(import.meta.url);" },
    });
  } catch (err) {
    const errors = (err as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number; lineText: string } | null }> }).errors;
    if (errors?.length) {
      const lines = errors.slice(0, 5).map((e) => (e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ${e.text}` : e.text));
      throw BuildFailed(`build of ${dir} failed: ${lines.join('; ')}`, { data: { errors: lines } });
    }
    throw BuildFailed(`build of ${dir} failed: ${(err as Error).message}`, { cause: err });
  }
  const js = result.outputFiles.find((f) => f.path.endsWith('.mjs'))!;
  const map = result.outputFiles.find((f) => f.path.endsWith('.map'))!;
  // The code ends with `//# sourceMappingURL=function.mjs.map`: every driver places the bundle as
  // function.mjs with its map beside it, so the link holds wherever the bundle runs.
  const code = js.text;
  return {
    entry,
    code,
    map: map.text,
    digest: createHash('sha256').update(code).digest('hex'),
    settings,
    packageName,
    defaultName,
  };
}
