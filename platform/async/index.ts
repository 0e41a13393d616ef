/**
 * Async invocations and cron triggers: what the composition root needs.
 *
 *   const asyncService = AsyncService.open({ store, invoke, exists, logger });
 *   app mounts: { '/v1': asyncRoutes(asyncService) }
 *   on shutdown: await asyncService.close(graceMs) before the function layer and the store.
 */
export { AsyncService, type AsyncServiceOptions, type AsyncStats } from './service.ts';
export { asyncRoutes } from './routes.ts';
export { asyncMigrations } from './schema.ts';
export { CronSchedule, parseCron } from './cron.ts';
export type { InvokeFn, InvokeJob } from './worker.ts';
export { ATTEMPT_HEADER } from './worker.ts';
export { CRON_HEADER, CRON_TIME_HEADER } from './scheduler.ts';
export * from './errors.ts';
