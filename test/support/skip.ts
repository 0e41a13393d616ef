/**
 * One way to skip a test that cannot run on this host, so that it is counted and shown as
 * skipped, never as passed:
 *
 *   const it = skipUnless(missing('root', 'bwrap'));        // or skipUnless(lack(reason, fix))
 *   it('a remount of /usr fails', async () => { … });
 *
 * With nothing lacking, `it` registers the test as usual. Otherwise it registers it with uvu's
 * `test.skip`, which uvu counts under "Skipped:", and prints one line per test,
 *
 *   SKIP <file> › "<test>": <reason>; to run it: <command>
 *
 * which scripts/run-tests.ts requires of any file that skips and repeats in its summary.
 *
 * The decision is taken when the test is registered, because uvu has no way to skip a test that
 * is already running: a test that returns early is a pass. A condition known only at run time
 * has to be found out before registering (a top-level await, or a driver made up front).
 */
import { test as uvuTest, type Callback, type Test } from 'uvu';
import { testFile, type Lack } from './needs.ts';

export type { Lack } from './needs.ts';

/** Registers a test: the real one, or a skipped one with its reason printed. */
export type Register = (name: string, fn: Callback<any>) => void;

/** A reason of the test's own (a capability, a kernel feature) with the command that would un-skip it. */
export function lack(reason: string, fix: string): Lack {
  return { reason, fix };
}

/** The line scripts/run-tests.ts collects for a skipped test. */
export function skipLine(name: string, why: Lack): string {
  // The name quoted, so the runner can tell it from the reason (names hold colons).
  return `SKIP ${testFile()} › ${JSON.stringify(name)}: ${why.reason}; to run it: ${why.fix}`;
}

/** `on` is the uvu suite to register in (the default `test` otherwise). */
export function skipUnless(why: Lack | null, on: Test<any> = uvuTest): Register {
  if (!why) return (name, fn) => on(name, fn);
  return (name, fn) => {
    console.log(skipLine(name, why));
    on.skip(name, fn);
  };
}
