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
  /**
   * How `measured` was taken when it is one of several summaries of the same runs (e.g. "median
   * per deploy"), and the other summaries (e.g. pooled: every run's samples together). The report
   * prints them in the verdict itself, so a goal judged on one summary never hides the other.
   */
  basis?: string;
  also?: Array<{ label: string; value: number | null }>;
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

/** The summary a goal judges and the others of the same runs (see `Goal.basis`). */
export interface GoalFigures {
  basis: string;
  also?: Record<string, number | null>;
}

/** Builds a goal and judges it. */
export function goal(name: string, measured: number | null, op: Goal['op'], limit: number, unit: string, whyIfMissed?: (m: number) => string, figures?: GoalFigures): Goal {
  let met: boolean | null = null;
  if (measured !== null && Number.isFinite(measured)) {
    met = op === '<=' ? measured <= limit : op === '>=' ? measured >= limit : op === '<' ? measured < limit : measured > limit;
  }
  const g: Goal = { name, measured: measured !== null && Number.isFinite(measured) ? measured : null, limit, op, unit, met };
  if (figures) {
    g.basis = figures.basis;
    g.also = Object.entries(figures.also ?? {}).map(([label, value]) => ({ label, value: value !== null && Number.isFinite(value) ? value : null }));
  }
  if (met === false && whyIfMissed && measured !== null) g.why = whyIfMissed(measured);
  return g;
}
