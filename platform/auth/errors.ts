/**
 * Error codes of admin and invocation auth. `unauthorized` deliberately carries one fixed message
 * whatever went wrong (no header, a malformed one, an unknown or revoked token), so a caller
 * probing the API learns nothing about which tokens exist. Pinned by test/unit/errors.test.ts.
 */
import { defineError } from '../errors.ts';

/** 401: no usable credentials. Always thrown with {@link UNAUTHORIZED_DETAIL}. */
export const Unauthorized = defineError('unauthorized', 401, 'Unauthorized', 'validate');
/** 403: a valid token whose scope does not cover this request. */
export const Forbidden = defineError('forbidden', 403, 'Forbidden', 'validate');
/** 400: a token request with a bad name, scope or function. */
export const AuthInvalidRequest = defineError('auth_invalid_request', 400, 'Invalid token request', 'validate');
/** 404: revoking a token id that was never issued. */
export const AuthTokenNotFound = defineError('auth_token_not_found', 404, 'Token not found');
/** 500: the admin token file cannot be read or written. */
export const AuthTokenFile = defineError('auth_token_file', 500, 'Admin token file unusable', 'config');

/** The one detail every 401 carries; it never says which check failed. */
export const UNAUTHORIZED_DETAIL = 'this request needs a valid token: send "Authorization: Bearer <token>"';
