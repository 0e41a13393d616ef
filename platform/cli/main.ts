#!/usr/bin/env node
/**
 * Entry point of `ignition`. `--version` is answered before anything else is loaded (it is what
 * scripts call most, and it should cost no more than starting Node); every other command loads the
 * command table (app.ts, a separate chunk) and runs.
 */
import { VERSION } from '../version.ts';

// A reader that goes away early (`ignition ls | head -1`) is not a failure of the command: stop
// quietly with 0, as git and coreutils do, instead of Node's unhandled 'error' stack. Commands
// that stream (logs --follow) may add listeners of their own; this one only acts on EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  process.stdout.write(`${VERSION}\n`);
} else {
  const { run } = await import('./app.ts');
  process.exitCode = await run(argv);
}
