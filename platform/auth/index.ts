/**
 * Auth: admin API tokens (issued, hashed, revoked), the first admin token in the data directory,
 * the `/v1` guard, per-function invocation auth and CORS. See docs/SECURITY.md.
 */
export { authMigrations } from './schema.ts';
export { TokenStore, hashToken, looksLikeToken, TOKEN_PREFIX, type TokenRecord, type TokenScope, type CreateTokenInput } from './tokens.ts';
export { ensureAdminToken, ADMIN_TOKEN_FILE, type AdminTokenResult } from './bootstrap.ts';
export { adminAuth, invokeAuth, authenticate, bearerToken, mayInvoke, WWW_AUTHENTICATE } from './middleware.ts';
export { corsFor, applyCors, isPreflight, DEFAULT_CORS_METHODS, type CorsSettings } from './cors.ts';
export { checkAuthMode, checkCors, validateCors, corsProblems, type AuthMode, type FunctionAccessSettings } from './settings.ts';
export { authRoutes } from './routes.ts';
export * from './errors.ts';
