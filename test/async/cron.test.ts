/**
 * The cron parser, table-driven: expressions with the next firing times they must produce (UTC),
 * and bad expressions with the field and problem their error must name.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCron } from '../../platform/async/cron.ts';
import { IgnitionError } from '../../platform/errors.ts';

/** [expression, after, the next few firing times] */
const schedules: Array<[string, string, string[]]> = [
  ['* * * * *', '2024-01-01T00:00:00Z', ['2024-01-01T00:01:00Z', '2024-01-01T00:02:00Z']],
  ['* * * * *', '2024-01-01T00:00:30.500Z', ['2024-01-01T00:01:00Z']],
  ['*/5 * * * *', '2024-01-01T00:03:00Z', ['2024-01-01T00:05:00Z', '2024-01-01T00:10:00Z']],
  ['*/5 * * * *', '2024-01-01T23:58:00Z', ['2024-01-02T00:00:00Z']],
  ['0 * * * *', '2024-01-01T10:00:00Z', ['2024-01-01T11:00:00Z', '2024-01-01T12:00:00Z']],
  ['30 2 * * *', '2024-01-01T03:00:00Z', ['2024-01-02T02:30:00Z', '2024-01-03T02:30:00Z']],
  ['0 9-17/4 * * *', '2024-01-01T00:00:00Z', ['2024-01-01T09:00:00Z', '2024-01-01T13:00:00Z', '2024-01-01T17:00:00Z', '2024-01-02T09:00:00Z']],
  ['15,45 1 * * *', '2024-01-01T01:20:00Z', ['2024-01-01T01:45:00Z', '2024-01-02T01:15:00Z']],
  ['10/20 * * * *', '2024-01-01T00:00:00Z', ['2024-01-01T00:10:00Z', '2024-01-01T00:30:00Z', '2024-01-01T00:50:00Z', '2024-01-01T01:10:00Z']],
  // Month and weekday names, any case.
  ['0 0 1 JAN,jul *', '2024-02-01T00:00:00Z', ['2024-07-01T00:00:00Z', '2025-01-01T00:00:00Z']],
  ['0 8 * * mon-fri', '2024-06-07T09:00:00Z', ['2024-06-10T08:00:00Z', '2024-06-11T08:00:00Z']], // Fri 7 June → Mon 10
  ['0 0 * * sun', '2024-06-03T00:00:00Z', ['2024-06-09T00:00:00Z']],
  ['0 0 * * 7', '2024-06-03T00:00:00Z', ['2024-06-09T00:00:00Z']], // 7 is Sunday too
  ['0 0 * * 5-7', '2024-06-08T12:00:00Z', ['2024-06-09T00:00:00Z', '2024-06-14T00:00:00Z']], // Sat → Sun, Fri
  // Vixie OR rule: both day fields restricted → either matches.
  ['0 0 13 * fri', '2024-09-01T00:00:00Z', ['2024-09-06T00:00:00Z', '2024-09-13T00:00:00Z', '2024-09-20T00:00:00Z']],
  // …but a day field starting with "*" (even */2) makes it AND.
  ['0 0 */2 * mon', '2024-07-01T00:00:00Z', ['2024-07-15T00:00:00Z', '2024-07-29T00:00:00Z']],
  // Months without the day are skipped; leap days only in leap years.
  ['0 0 31 * *', '2024-04-01T00:00:00Z', ['2024-05-31T00:00:00Z', '2024-07-31T00:00:00Z']],
  ['0 12 29 2 *', '2024-03-01T00:00:00Z', ['2028-02-29T12:00:00Z', '2032-02-29T12:00:00Z']],
  // Macros.
  ['@hourly', '2024-01-01T00:30:00Z', ['2024-01-01T01:00:00Z']],
  ['@daily', '2024-01-01T00:30:00Z', ['2024-01-02T00:00:00Z']],
  ['@midnight', '2024-01-01T00:30:00Z', ['2024-01-02T00:00:00Z']],
  ['@weekly', '2024-06-05T00:00:00Z', ['2024-06-09T00:00:00Z']],
  ['@monthly', '2024-06-05T00:00:00Z', ['2024-07-01T00:00:00Z']],
  ['@yearly', '2024-06-05T00:00:00Z', ['2025-01-01T00:00:00Z']],
  ['@ANNUALLY', '2024-06-05T00:00:00Z', ['2025-01-01T00:00:00Z']],
  // Year boundaries and extra whitespace.
  ['  59   23 31 12 *  ', '2024-12-31T23:59:00Z', ['2025-12-31T23:59:00Z']],
];

for (const [expr, after, expected] of schedules) {
  test(`"${expr}" after ${after}`, () => {
    const s = parseCron(expr);
    let t = new Date(after);
    for (const want of expected) {
      t = s.next(t);
      assert.is(t.toISOString(), new Date(want).toISOString(), `${expr}: after ${after}`);
    }
  });
}

/** [expression, field named in the error, a fragment of the message] */
const invalid: Array<[string, string, string]> = [
  ['', 'expression', 'empty'],
  ['* * * *', 'expression', 'has 4 fields; expected 5'],
  ['* * * * * *', 'expression', 'has 6 fields'],
  ['60 * * * *', 'minute', '60 is out of range 0-59'],
  ['* 24 * * *', 'hour', '24 is out of range 0-23'],
  ['* * 0 * *', 'day-of-month', '0 is out of range 1-31'],
  ['* * 32 * *', 'day-of-month', '32 is out of range 1-31'],
  ['* * * 13 *', 'month', '13 is out of range 1-12'],
  ['* * * * 8', 'day-of-week', '8 is out of range 0-7'],
  ['*/0 * * * *', 'minute', 'a step of 0 never advances'],
  ['*/x * * * *', 'minute', 'step "x" is not a whole number'],
  ['*/61 * * * *', 'minute', 'larger than'],
  ['1/2/3 * * * *', 'minute', 'more than one "/"'],
  ['5-1 * * * *', 'minute', 'runs backwards'],
  ['1-2-3 * * * *', 'minute', 'is not a range'],
  ['1, * * * *', 'minute', 'empty list item'],
  ['-5 * * * *', 'minute', 'missing bound'],
  ['a * * * *', 'minute', '"a" is not a number 0-59'],
  ['* * * foo *', 'month', '"foo" is neither a number 1-12 nor a name'],
  ['* * * * funday', 'day-of-week', '"funday" is neither a number 0-7 nor a name'],
  ['* * * * fri-sun', 'day-of-week', 'runs backwards'],
  ['0 0 30 2 *', 'day-of-month', 'never fire'],
  ['0 0 31 4,6,9,11 *', 'day-of-month', 'never fire'],
  ['0 0 31 2 */2', 'day-of-month', 'never fire'],
  ['@reboot', 'macro', 'not supported'],
  ['@often', 'macro', 'unknown macro'],
];

for (const [expr, field, fragment] of invalid) {
  test(`rejects "${expr}" (${field})`, () => {
    try {
      parseCron(expr);
    } catch (err) {
      assert.instance(err, IgnitionError);
      const e = err as IgnitionError;
      assert.is(e.code, 'cron_invalid');
      assert.is(e.status, 400);
      assert.is(e.data.field, field);
      assert.ok(e.message.includes(fragment), `message "${e.message}" should mention "${fragment}"`);
      if (field !== 'expression') assert.ok(e.message.includes(`${field} field`), e.message);
      return;
    }
    assert.unreachable(`"${expr}" parsed`);
  });
}

test('a restricted day-of-month with an OR weekday can fire even in a short month', () => {
  // 31 February never exists, but Vixie ORs the two day fields, so every Monday of February fires.
  const s = parseCron('0 0 31 2 mon');
  assert.is(s.next(new Date('2024-01-01T00:00:00Z')).toISOString(), '2024-02-05T00:00:00.000Z');
});

test.run();
