/**
 * Every capability's migrations in the order the daemon applies them: the one list the daemon
 * opens its database with (platform/daemon.ts) and test/unit/store-schema.test.ts checks against
 * the capabilities' drizzle tables.
 *
 * Order matters only where a migration builds on another capability's table: vmm's follow the
 * functions migrations, because functions-001/002 created the machines table vmm now owns
 * (platform/vmm/schema.ts). A new capability appends its list here.
 */
import type { Migration } from './db.ts';
import { functionMigrations } from '../functions/schema.ts';
import { vmmMigrations } from '../vmm/schema.ts';
import { registryMigrations } from '../registry/schema.ts';
import { networkMigrations } from '../network/schema.ts';
import { authMigrations } from '../auth/schema.ts';
import { secretMigrations } from '../secrets/schema.ts';
import { asyncMigrations } from '../async/schema.ts';

export const platformMigrations: readonly Migration[] = [
  ...functionMigrations,
  ...vmmMigrations,
  ...registryMigrations,
  ...networkMigrations,
  ...authMigrations,
  ...secretMigrations,
  ...asyncMigrations,
];
