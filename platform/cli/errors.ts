/**
 * Error codes the CLI raises itself, before any request reaches a daemon. Pinned by
 * test/unit/errors.test.ts.
 */
import { defineError } from '../errors.ts';

/** The CLI found no admin token for the daemon on this host; the message says where it looked. */
export const CliTokenMissing = defineError('cli_token_missing', 401, 'No admin token found', 'config');
