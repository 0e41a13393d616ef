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
  const [clipanion, { run }] = await Promise.all([import('clipanion'), import('./app.ts')]);
  // In the bundle, the CommonJS build of clipanion reaches a dynamic import as its default export.
  const Cli = clipanion.Cli ?? clipanion.default.Cli;
  // clipanion asks the terminal type, not stdout, whether to colour (so `--help | less` got
  // escapes). Every run and every usage text starts from this default context.
  Cli.defaultContext.colorDepth = colorDepth();
  process.exitCode = await run(argv);
}

/**
 * Colours only for a person at a terminal: none when NO_COLOR is set (no-color.org), forced by a
 * FORCE_COLOR other than 0 (for CI logs that render them), else only when stdout is a TTY.
 */
function colorDepth(env = process.env): number {
  if (env.NO_COLOR) return 1;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return 8;
  if (env.FORCE_COLOR === '0' || !process.stdout.isTTY) return 1;
  return process.stdout.getColorDepth();
}
