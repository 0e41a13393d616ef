/**
 * Boot and restore as data: an ordered list of named steps run one after the other, each timed.
 * A failure stops the list and is wrapped in the caller's typed error naming the step (the
 * original error stays on `cause`), so "restore failed at snapshot-load: …" says where the
 * milliseconds or the fault went. Restore is the boot list with the boot-only steps dropped and the
 * load steps added, which keeps the two flows side by side in one place (boot.ts, restore.ts).
 */
import { isIgnitionError, type ErrorFactory } from '../../errors.ts';
import type { StepTiming } from '../port.ts';

export interface Step<C> {
  name: string;
  run: (ctx: C) => Promise<void> | void;
  /** Skipped (and not timed) when this returns false. */
  when?: (ctx: C) => boolean;
}

export interface StepEvent {
  step: string;
  ms: number;
  ok: boolean;
}

/** Runs `steps` in order, appending timings; throws `fail(...)` naming the failing step. */
export async function runSteps<C>(
  steps: readonly Step<C>[],
  ctx: C,
  timings: StepTiming[],
  fail: ErrorFactory,
  label: string,
  onStep?: (event: StepEvent) => void,
): Promise<void> {
  for (const step of steps) {
    if (step.when && !step.when(ctx)) continue;
    const t0 = performance.now();
    try {
      await step.run(ctx);
    } catch (err) {
      const ms = performance.now() - t0;
      timings.push({ step: step.name, ms });
      onStep?.({ step: step.name, ms, ok: false });
      const reason = err instanceof Error ? err.message : String(err);
      throw fail(`${label} failed at step "${step.name}": ${reason}`, {
        data: { ...(isIgnitionError(err) ? { ...err.data, code: err.code } : {}), step: step.name },
        cause: err,
      });
    }
    const ms = performance.now() - t0;
    timings.push({ step: step.name, ms });
    onStep?.({ step: step.name, ms, ok: true });
  }
}
