/**
 * The two per-function settings this capability owns, `auth` and `cors`, as types and as checks in
 * the shape `platform/config/schema.ts` uses (`(value) => problem | null`), so the configuration can
 * add them to `functionChecks` as they are:
 *
 *   auth: checkAuthMode,   cors: checkCors        (defaults: auth 'none', cors null)
 */
import { ConfigInvalid } from '../config/schema.ts';
import type { CorsSettings } from './cors.ts';

/** `none`: anyone may invoke (the default). `token`: a Bearer token is required. */
export type AuthMode = 'none' | 'token';

/** The access part of a function's settings, as the invoke route reads it. */
export interface FunctionAccessSettings {
  auth?: AuthMode;
  cors?: CorsSettings | null;
}

const METHOD_RE = /^[A-Za-z]{1,20}$/;
// RFC 9110 token characters: what a header name may contain.
const HEADER_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
const ORIGIN_RE = /^https?:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;
const KEYS = new Set(['origins', 'methods', 'headers', 'exposeHeaders', 'maxAgeSeconds', 'credentials']);

export function checkAuthMode(value: unknown): string | null {
  return value === 'none' || value === 'token' ? null : 'must be "none" or "token"';
}

function stringList(key: string, value: unknown, re: RegExp, example: string, problems: string[]) {
  if (value === undefined) return;
  if (!Array.isArray(value)) return void problems.push(`${key} must be an array of strings`);
  value.forEach((v, i) => {
    if (typeof v !== 'string' || !(v === '*' || re.test(v))) problems.push(`${key}[${i}] ${JSON.stringify(v)} is not ${example}`);
  });
}

/** Every problem with a `cors` value, as phrases that read after "cors". Empty when valid. */
export function corsProblems(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value !== 'object' || Array.isArray(value))
    return ['must be null or an object {origins, methods?, headers?, exposeHeaders?, maxAgeSeconds?, credentials?}'];
  const v = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(v)) if (!KEYS.has(key)) problems.push(`${key} is not a known CORS setting`);
  if (v.origins === '*') {
    // fine
  } else if (!Array.isArray(v.origins) || v.origins.length === 0) {
    problems.push('origins must be "*" or a non-empty array of origins like "https://app.example.com"');
  } else {
    v.origins.forEach((o, i) => {
      if (typeof o !== 'string' || !ORIGIN_RE.test(o))
        problems.push(
          `origins[${i}] ${JSON.stringify(o)} is not an origin like "https://app.example.com" (scheme, host and optional port; no path, no trailing slash, no "null")`,
        );
    });
  }
  stringList('methods', v.methods, METHOD_RE, 'an HTTP method', problems);
  stringList('headers', v.headers, HEADER_RE, 'a header name', problems);
  stringList('exposeHeaders', v.exposeHeaders, HEADER_RE, 'a header name', problems);
  if (v.maxAgeSeconds !== undefined && !(Number.isInteger(v.maxAgeSeconds) && (v.maxAgeSeconds as number) >= 0 && (v.maxAgeSeconds as number) <= 86_400)) {
    problems.push('maxAgeSeconds must be an integer from 0 to 86400');
  }
  if (v.credentials !== undefined && typeof v.credentials !== 'boolean') problems.push('credentials must be true or false');
  if (v.credentials === true) {
    // With credentials the Fetch standard treats "*" literally, and reflecting any origin would
    // hand every website the user's session: demand explicit origins.
    if (v.origins === '*') problems.push('origins cannot be "*" when credentials is true; list the origins');
    for (const key of ['methods', 'headers', 'exposeHeaders']) {
      if (Array.isArray(v[key]) && (v[key] as unknown[]).includes('*')) problems.push(`${key} cannot contain "*" when credentials is true`);
    }
  }
  return problems;
}

/** `functionChecks`-shaped check for `cors`. */
export function checkCors(value: unknown): string | null {
  const problems = corsProblems(value);
  return problems.length ? `is invalid: ${problems.join('; ')}` : null;
}

/** Validates a `cors` value; throws `config_invalid` naming every problem and the source. */
export function validateCors(value: unknown, source: string): CorsSettings | null {
  const problems = corsProblems(value);
  if (problems.length) {
    throw ConfigInvalid(`function settings (${source}): cors ${problems.join('; ')}`, { data: { problems: problems.map((p) => `cors ${p}`) } });
  }
  return (value ?? null) as CorsSettings | null;
}
