#!/usr/bin/env node
/**
 * Entry point of `ignition`. `--version` is answered before anything else is loaded (it is what
 * scripts call most, and it should cost no more than starting Node); every other command loads the
 * command table (app.ts, a separate chunk) and runs.
 */
import { VERSION } from '../version.ts';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  process.stdout.write(`${VERSION}\n`);
} else {
  const { run } = await import('./app.ts');
  process.exitCode = await run(argv);
}
