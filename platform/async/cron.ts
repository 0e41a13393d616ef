/**
 * Standard five-field cron expressions, evaluated in UTC:
 *
 *   minute (0-59)  hour (0-23)  day-of-month (1-31)  month (1-12 or jan-dec)  day-of-week (0-7 or sun-sat, 0 and 7 are Sunday)
 *
 * Each field is a comma-separated list of `*`, `N`, `A-B`, any of those followed by `/STEP`, and
 * `N/STEP` (shorthand for `N-max/STEP`, as cronie accepts it). The macros `@yearly` (`@annually`),
 * `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for their usual expansions.
 *
 * Days follow Vixie cron: when both day fields are restricted the job runs when EITHER matches
 * (`0 0 1,15 * mon` runs on the 1st, the 15th and every Monday); when either field starts with `*`
 * (including `*\/2`) the two are ANDed. That quirk is what every crontab user's muscle memory
 * expects, so it is kept rather than "fixed".
 *
 * A bad expression throws `cron_invalid` naming the field, the text and what is wrong; so does an
 * expression that can never fire (`0 0 30 2 *`), because a trigger that silently never runs is
 * worse than an error at the moment it is created.
 */
import { CronInvalid } from './errors.ts';

export type CronField = 'minute' | 'hour' | 'day-of-month' | 'month' | 'day-of-week';

interface FieldSpec {
  name: CronField;
  min: number;
  max: number;
  names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  // 7 is accepted as Sunday and folded onto 0 after parsing.
  { name: 'day-of-week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Longest days of each month (February counts its leap day), for the "can never fire" check. */
const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MINUTE = 60_000;

/** A parsed expression. `next(after)` is the first matching minute strictly after `after`. */
export class CronSchedule {
  private constructor(
    readonly expression: string,
    private readonly minutes: boolean[],
    private readonly hours: boolean[],
    private readonly days: boolean[],
    private readonly months: boolean[],
    private readonly weekdays: boolean[],
    /** Vixie's DOM_STAR / DOW_STAR: the field's text starts with `*`. */
    private readonly dayStar: boolean,
    private readonly weekdayStar: boolean,
  ) {}

  /** Parses an expression or throws `cron_invalid`. */
  static parse(expression: string): CronSchedule {
    if (typeof expression !== 'string') throw CronInvalid('a cron expression must be a string', { data: { field: 'expression' } });
    const text = expression.trim();
    const fail = (field: string, value: string, problem: string) =>
      CronInvalid(`cron expression ${JSON.stringify(text)}: ${field} field ${JSON.stringify(value)}: ${problem}`, { data: { expression: text, field, value } });
    if (!text)
      throw CronInvalid('the cron expression is empty; expected 5 fields: minute hour day-of-month month day-of-week', {
        data: { expression: text, field: 'expression' },
      });
    let source = text;
    if (text.startsWith('@')) {
      const macro = MACROS[text.toLowerCase()];
      if (!macro) {
        const why =
          text.toLowerCase() === '@reboot'
            ? '@reboot is not supported (a daemon restart is not an event functions can rely on)'
            : `unknown macro; use one of ${Object.keys(MACROS).join(', ')}`;
        throw fail('macro', text, why);
      }
      source = macro;
    }
    const parts = source.split(/\s+/);
    if (parts.length !== 5) {
      throw CronInvalid(
        `cron expression ${JSON.stringify(text)} has ${parts.length} field${parts.length === 1 ? '' : 's'}; expected 5: minute hour day-of-month month day-of-week`,
        {
          data: { expression: text, field: 'expression' },
        },
      );
    }
    const sets = FIELDS.map((spec, i) => parseField(spec, parts[i], (problem) => fail(spec.name, parts[i], problem)));
    const weekdays = sets[4];
    if (weekdays[7]) weekdays[0] = true;
    weekdays.length = 7;
    const schedule = new CronSchedule(text, sets[0], sets[1], sets[2], sets[3], weekdays, parts[2].startsWith('*'), parts[4].startsWith('*'));
    if ((schedule.dayStar || schedule.weekdayStar) && !schedule.someDayExists()) {
      throw fail(
        'day-of-month',
        parts[2],
        `no listed day exists in the listed month${parts[3] === '*' ? 's' : `s (${parts[3]})`}, so the trigger would never fire`,
      );
    }
    return schedule;
  }

  /** The first minute matching the expression strictly after `after` (UTC, seconds zero). */
  next(after: Date): Date {
    let t = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
    // Each step jumps to the start of the next month, day, hour or minute, so even a leap-day
    // schedule lands within a few thousand steps; the bound only guards against a bug.
    for (let step = 0; step < 200_000; step++) {
      const d = new Date(t);
      if (!this.months[d.getUTCMonth() + 1]) {
        t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
        continue;
      }
      if (!this.dayMatches(d)) {
        t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
        continue;
      }
      if (!this.hours[d.getUTCHours()]) {
        t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
        continue;
      }
      if (!this.minutes[d.getUTCMinutes()]) {
        t += MINUTE;
        continue;
      }
      return d;
    }
    throw new Error(`cron expression ${JSON.stringify(this.expression)} found no time after ${after.toISOString()}`);
  }

  private dayMatches(d: Date): boolean {
    const dom = this.days[d.getUTCDate()];
    const dow = this.weekdays[d.getUTCDay()];
    return this.dayStar || this.weekdayStar ? dom && dow : dom || dow;
  }

  /** Whether some listed day-of-month exists in some listed month (any weekday recurs over the years). */
  private someDayExists(): boolean {
    for (let m = 1; m <= 12; m++) {
      if (!this.months[m]) continue;
      for (let day = 1; day <= MONTH_DAYS[m - 1]; day++) if (this.days[day]) return true;
    }
    return false;
  }
}

/** Shorthand for `CronSchedule.parse`. */
export function parseCron(expression: string): CronSchedule {
  return CronSchedule.parse(expression);
}

function parseField(spec: FieldSpec, text: string, fail: (problem: string) => Error): boolean[] {
  const set = new Array<boolean>(spec.max + 1).fill(false);
  if (text === '') throw fail('is empty');
  for (const item of text.split(',')) {
    if (item === '') throw fail('has an empty list item');
    const slash = item.split('/');
    if (slash.length > 2) throw fail(`"${item}" has more than one "/"`);
    const [rangeText, stepText] = slash;
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText)) throw fail(`step "${stepText}" is not a whole number`);
      step = Number(stepText);
      if (step === 0) throw fail('a step of 0 never advances');
      if (step > spec.max) throw fail(`step ${step} is larger than the field's range ${spec.min}-${spec.max}`);
    }
    let lo: number;
    let hi: number;
    if (rangeText === '*') {
      lo = spec.min;
      hi = spec.name === 'day-of-week' ? 6 : spec.max;
    } else if (rangeText.includes('-')) {
      const bounds = rangeText.split('-');
      if (bounds.length !== 2) throw fail(`"${rangeText}" is not a range A-B`);
      lo = value(spec, bounds[0], fail);
      hi = value(spec, bounds[1], fail);
      if (lo > hi) throw fail(`range ${bounds[0]}-${bounds[1]} runs backwards`);
    } else {
      lo = value(spec, rangeText, fail);
      // `N/STEP` means from N to the end of the field; a bare `N` is just N.
      hi = stepText === undefined ? lo : spec.max;
    }
    for (let v = lo; v <= hi; v += step) set[v] = true;
  }
  return set;
}

function value(spec: FieldSpec, text: string, fail: (problem: string) => Error): number {
  if (text === '') throw fail('has a range with a missing bound');
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n < spec.min || n > spec.max) throw fail(`${n} is out of range ${spec.min}-${spec.max}`);
    return n;
  }
  const index = spec.names?.indexOf(text.toLowerCase()) ?? -1;
  if (index >= 0) return spec.name === 'month' ? index + 1 : index;
  if (spec.names) throw fail(`"${text}" is neither a number ${spec.min}-${spec.max} nor a name (${spec.names.join(', ')})`);
  throw fail(`"${text}" is not a number ${spec.min}-${spec.max}`);
}
