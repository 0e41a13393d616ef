/**
 * A small JSON Schema validator for the subset the API document uses, and the lookup from a
 * concrete request (method, path) to the documented operation. Both exist so the contract test
 * can check every response of a walk over the API without a schema library: the subset is small
 * (see JsonSchema in types.ts) and an error must name the JSON path that broke, which is all a
 * failing test needs to say.
 *
 * Unknown keywords are annotations and ignored; `$ref` resolves only to `#/components/schemas/*`.
 */
import { HTTP_METHODS, type HttpMethod, type JsonSchema, type JsonType, type OpenApiDocument, type OperationObject } from './types.ts';

/** One broken rule: where (a JSON path such as `$.versions[0].seq`) and what. */
export interface SchemaError {
  path: string;
  message: string;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function typeOf(value: unknown): JsonType {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value as JsonType;
}

function typeMatches(actual: JsonType, wanted: JsonType): boolean {
  return actual === wanted || (wanted === 'number' && actual === 'integer');
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function key(path: string, name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;
}

/** Resolves a `#/components/schemas/Name` reference; throws for anything else (a document bug). */
export function resolveRef(doc: Pick<OpenApiDocument, 'components'>, ref: string): JsonSchema {
  const m = /^#\/components\/schemas\/([A-Za-z0-9_.-]+)$/.exec(ref);
  const target = m ? doc.components.schemas[m[1]] : undefined;
  if (!target) throw new Error(`unresolvable $ref ${ref}`);
  return target;
}

/**
 * Validates `value` against `schema`; returns every error found (empty when valid). `at` is the
 * JSON path of `value`, `$` for a whole body.
 */
export function validate(doc: Pick<OpenApiDocument, 'components'>, schema: JsonSchema, value: unknown, at = '$'): SchemaError[] {
  const errors: SchemaError[] = [];
  check(schema, value, at);
  return errors;

  function check(s: JsonSchema, v: unknown, p: string): void {
    if (s.$ref) {
      check(resolveRef(doc, s.$ref), v, p);
      // Sibling keywords of $ref apply too (JSON Schema 2020-12); only annotations are used here.
    }
    const actual = typeOf(v);
    if (s.type !== undefined) {
      const wanted = Array.isArray(s.type) ? s.type : [s.type];
      if (!wanted.some((t) => typeMatches(actual, t))) {
        errors.push({ path: p, message: `expected ${wanted.join(' or ')}, got ${actual}` });
        return; // the other keywords would only repeat the same fault
      }
    }
    if (s.const !== undefined && !sameValue(s.const, v))
      errors.push({ path: p, message: `expected the constant ${JSON.stringify(s.const)}, got ${JSON.stringify(v)}` });
    if (s.enum && !s.enum.some((e) => sameValue(e, v)))
      errors.push({ path: p, message: `${JSON.stringify(v)} is not one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}` });
    if (actual === 'string') checkString(s, v as string, p);
    if (actual === 'number' || actual === 'integer') {
      if (s.minimum !== undefined && (v as number) < s.minimum) errors.push({ path: p, message: `${v} is below the minimum ${s.minimum}` });
      if (s.maximum !== undefined && (v as number) > s.maximum) errors.push({ path: p, message: `${v} is above the maximum ${s.maximum}` });
    }
    if (actual === 'object') checkObject(s, v as Record<string, unknown>, p);
    if (actual === 'array') {
      const arr = v as unknown[];
      if (s.minItems !== undefined && arr.length < s.minItems) errors.push({ path: p, message: `expected at least ${s.minItems} items, got ${arr.length}` });
      if (s.maxItems !== undefined && arr.length > s.maxItems) errors.push({ path: p, message: `expected at most ${s.maxItems} items, got ${arr.length}` });
      if (s.items) arr.forEach((item, i) => check(s.items!, item, `${p}[${i}]`));
    }
    for (const sub of s.allOf ?? []) check(sub, v, p);
    if (s.anyOf && !s.anyOf.some((sub) => validate(doc, sub, v, p).length === 0)) {
      errors.push({ path: p, message: `matches none of anyOf: ${closest(s.anyOf, v, p)}` });
    }
    if (s.oneOf) {
      const passing = s.oneOf.filter((sub) => validate(doc, sub, v, p).length === 0).length;
      if (passing === 0) errors.push({ path: p, message: `matches none of oneOf: ${closest(s.oneOf, v, p)}` });
      else if (passing > 1) errors.push({ path: p, message: `matches ${passing} branches of oneOf, exactly one expected` });
    }
  }

  function checkString(s: JsonSchema, v: string, p: string): void {
    if (s.minLength !== undefined && v.length < s.minLength) errors.push({ path: p, message: `shorter than ${s.minLength} characters` });
    if (s.maxLength !== undefined && v.length > s.maxLength) errors.push({ path: p, message: `longer than ${s.maxLength} characters` });
    if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v)) errors.push({ path: p, message: `${JSON.stringify(v)} does not match /${s.pattern}/` });
    if (s.format === 'date-time' && !DATE_TIME.test(v)) errors.push({ path: p, message: `${JSON.stringify(v)} is not an RFC 3339 date-time` });
  }

  function checkObject(s: JsonSchema, v: Record<string, unknown>, p: string): void {
    for (const name of s.required ?? []) if (!(name in v)) errors.push({ path: key(p, name), message: 'is required but missing' });
    for (const [name, item] of Object.entries(v)) {
      const declared = s.properties?.[name];
      if (declared) check(declared, item, key(p, name));
      else if (s.additionalProperties === false) errors.push({ path: key(p, name), message: 'is not a documented property' });
      else if (typeof s.additionalProperties === 'object') check(s.additionalProperties, item, key(p, name));
    }
  }

  // The errors of the branch that came nearest, so a failed oneOf still says something useful.
  function closest(branches: JsonSchema[], v: unknown, p: string): string {
    const all = branches.map((b) => validate(doc, b, v, p)).sort((a, b) => a.length - b.length)[0];
    return all.map((e) => `${e.path} ${e.message}`).join('; ');
  }
}

/** What `matchOperation` found: the template, the operation and the path parameters. */
export interface OperationMatch {
  template: string;
  method: HttpMethod;
  operation: OperationObject;
  params: Record<string, string>;
}

/** A path template as a regular expression; a trailing `{path}` takes the rest, slashes and all. */
export function templateRegExp(template: string): RegExp {
  let source = '';
  for (const part of template.split(/(\{[^}]+\})/)) {
    if (!part) continue;
    const m = /^\{([^}]+)\}$/.exec(part);
    if (!m) source += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (m[1] === 'path' && template.endsWith('/{path}')) source += '(?<path>.*)';
    else source += `(?<${m[1].replace(/[^A-Za-z0-9_]/g, '_')}>[^/]+)`;
  }
  return new RegExp(`^${source}$`);
}

/** How specific a template is: literal characters count, so `/tree` beats `/{id}`. */
function specificity(template: string): number {
  return template.replace(/\{[^}]+\}/g, '').length;
}

/**
 * The documented operation that answers `method` on the concrete `path` (no query string), or
 * null. Where two templates match (`/v1/snapshots/tree` and `/v1/snapshots/{id}`) the one with
 * more literal characters wins, as in the router.
 */
export function matchOperation(doc: OpenApiDocument, method: string, path: string): OperationMatch | null {
  const m = method.toLowerCase() as HttpMethod;
  if (!HTTP_METHODS.includes(m)) return null;
  const templates = Object.keys(doc.paths).sort((a, b) => specificity(b) - specificity(a));
  for (const template of templates) {
    const found = templateRegExp(template).exec(path);
    if (!found) continue;
    const operation = doc.paths[template][m];
    if (!operation) continue;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(found.groups ?? {})) params[k] = safeDecode(v);
    return { template, method: m, operation, params };
  }
  return null;
}

/** Every operation of the document, with its method and template. */
export function listOperations(doc: OpenApiDocument): Array<{ method: HttpMethod; template: string; operation: OperationObject }> {
  const out: Array<{ method: HttpMethod; template: string; operation: OperationObject }> = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (operation) out.push({ method, template, operation });
    }
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
