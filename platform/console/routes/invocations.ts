/**
 * The invocations page: the function service's ring of recent invocations, through /fn or as
 * jobs (functions/recent.ts), filtered by function and failure, and the async capability's latest jobs.
 */
import { assertFunctionName } from '../../functions/names.ts';
import { BadRequest } from '../../errors.ts';
import type { InvocationView } from '../../async/views.ts';
import { csrfOf, page, type ConsoleApp, type ConsoleDeps } from '../context.ts';
import { InvocationsPage } from '../pages/invocations.tsx';

/** Rows the page shows at most (the ring holds more, for the filters to find). */
const SHOWN = 200;
/** Async jobs per function looked at, and shown in all. */
const JOBS_PER_FUNCTION = 20;
const JOBS_SHOWN = 30;

export function registerInvocationRoutes(app: ConsoleApp, deps: ConsoleDeps): void {
  const { functions } = deps;

  app.get('/invocations', (c) => {
    const status = c.req.query('status') ?? '';
    if (status !== '' && status !== 'failed')
      throw BadRequest(`"status" must be "failed" or left out (every invocation), not ${JSON.stringify(status.slice(0, 32))}`);
    const failed = status === 'failed';
    const fnText = c.req.query('function')?.trim();
    const fn = fnText ? assertFunctionName(fnText) : undefined;
    if (fn) functions.requireFunction(fn);
    const seqs = new Map<string, number | null>();
    const seqOf = (id: string | null) => {
      if (id === null) return null;
      if (!seqs.has(id)) seqs.set(id, functions.repo.getVersion(id)?.seq ?? null);
      return seqs.get(id)!;
    };
    const rows = functions.recent.list({ fn, failed, limit: SHOWN }).map((r) => ({ ...r, seq: seqOf(r.version) }));
    const names = functions.list().map((f) => f.name);
    let jobs: InvocationView[] | null = null;
    if (deps.async) {
      const async = deps.async;
      jobs = (fn ? [fn] : names)
        .flatMap((f) => async.list(f, { limit: JOBS_PER_FUNCTION }))
        .filter((j) => !failed || j.status === 'failed' || j.status === 'dead')
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id))
        .slice(0, JOBS_SHOWN);
    }
    return page(c, InvocationsPage({ csrf: csrfOf(c), rows, capacity: functions.recent.capacity, functions: names, fn, failed, jobs }));
  });
}
