/**
 * Secrets: per-function values sealed with AES-256-GCM under `<dataDir>/secrets.key`, resolved
 * only to hand them to an instance after a restore. See docs/SECURITY.md.
 */
export { secretMigrations } from './schema.ts';
export { SecretStore, assertSecretName, SECRET_NAME_RE, SECRET_VALUE_MAX_BYTES, type SecretInfo } from './store.ts';
export { KEY_FILE, NEXT_KEY_FILE, loadOrCreateKey, readKeyFile } from './key.ts';
export { secretRoutes, type SecretRouteDeps } from './routes.ts';
export * from './errors.ts';
