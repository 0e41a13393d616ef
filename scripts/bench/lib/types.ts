/**
 * The shape every benchmark module returns, and the context it runs in. The report generator
 * (./report.ts) turns these into docs/BENCHMARKS.md; main.ts writes them verbatim to
 * bench/results.json. Tables hold already formatted cells; `raw` holds the numbers they came from.
 */

export type Cell = string | number | null;

export interface Table {
  title?: string;
  columns: string[];
  rows: Cell[][];
}

/**
 * A goal of issue 8, judged from measured numbers only. `measured` and `limit` are in the same
 * unit; `met` is null when it could not be measured. `why` is generated from a template keyed on
 * measured values (never hand-written figures).
 */
export interface Goal {
  name: string;
  measured: number | null;
  limit: number;
  /** How measured compares to limit when the goal is met. */
  op: '<=' | '>=' | '<' | '>';
  unit: string;
  met: boolean | null;
  why?: string;
}

export interface BenchResult {
  id: string;
  title: string;
  measures: string;
  workload: string;
  runs: string;
  tables: Table[];
  goals: Goal[];
  /** Generated sentences (templates filled with measured values). */
  notes: string[];
  raw: unknown;
  /** Set when the benchmark could not run here; a generated reason. */
  skipped?: string;
  error?: string;
  seconds?: number;
}

export interface BenchContext {
  quick: boolean;
  /** A scratch directory for this run, removed at the end. */
  tmp: string;
  log(message: string): void;
}

/** Builds a goal and judges it. */
export function goal(name: string, measured: number | null, op: Goal['op'], limit: number, unit: string, whyIfMissed?: (m: number) => string): Goal {
  let met: boolean | null = null;
  if (measured !== null && Number.isFinite(measured)) {
    met = op === '<=' ? measured <= limit : op === '>=' ? measured >= limit : op === '<' ? measured < limit : measured > limit;
  }
  const g: Goal = { name, measured: measured !== null && Number.isFinite(measured) ? measured : null, limit, op, unit, met };
  if (met === false && whyIfMissed && measured !== null) g.why = whyIfMissed(measured);
  return g;
}
