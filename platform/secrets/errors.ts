/**
 * Error codes of the secret store. Messages name the function and the secret, never the value.
 * Pinned by test/unit/errors.test.ts.
 */
import { defineError } from '../errors.ts';

export const SecretInvalidName = defineError('secret_invalid_name', 400, 'Invalid secret name', 'validate');
export const SecretInvalidValue = defineError('secret_invalid_value', 400, 'Invalid secret value', 'validate');
export const SecretTooLarge = defineError('secret_too_large', 413, 'Secret value too large', 'validate');
export const SecretNotFound = defineError('secret_not_found', 404, 'Secret not found');
/** A ciphertext that fails authentication: altered in the database, moved, or another key. */
export const SecretCorrupt = defineError('secret_corrupt', 500, 'Secret cannot be decrypted', 'store');
/** The key file is missing where it must exist, readable by others, the wrong size or unreadable. */
export const SecretKeyInvalid = defineError('secret_key_invalid', 500, 'Secrets key file unusable', 'config');
