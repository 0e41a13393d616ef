/**
 * Remote references: `[http[s]://]host[:port]/repo/path[:tag][@sha256:…]`, parsed and checked as
 * pure functions, plus the rule for plain HTTP: only for loopback hosts or when asked.
 *
 * The host must look like a host (contain a dot or a port, or be `localhost`), so a typo never
 * silently goes to some default registry. Repository components follow the OCI distribution
 * grammar (lowercase, single separators), which rules out `..`, empty components and NUL.
 */
import { assertDigest, type Digest } from '../digest.ts';
import { RegistryInsecureRefused, RegistryInvalidName } from '../errors.ts';

export interface Reference {
  /** `host` or `host:port`, as written (used in URLs and in the remote-blob table). */
  host: string;
  repository: string;
  tag: string | null;
  digest: Digest | null;
  /** The scheme the ref asked for explicitly, if any. */
  scheme: 'http' | 'https' | null;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?$/;

function bad(ref: string, why: string): Error {
  return RegistryInvalidName(`remote reference ${JSON.stringify(ref.slice(0, 300))} is not valid: ${why}`, {
    data: { kind: 'reference', value: ref.slice(0, 300) },
  });
}

export function parseReference(input: string): Reference {
  if (typeof input !== 'string' || input.length === 0 || input.length > 1024)
    throw bad(String(input), 'it must be a non-empty string of at most 1024 characters');
  if (/[\0-\x20\x7f]/.test(input)) throw bad(input, 'it contains whitespace or control characters');
  let rest = input;
  let scheme: Reference['scheme'] = null;
  const m = /^(https?):\/\//.exec(rest);
  if (m) {
    scheme = m[1] as 'http' | 'https';
    rest = rest.slice(m[0].length);
  }
  let digest: Digest | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = assertDigest(rest.slice(at + 1), 'reference digest');
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) throw bad(input, 'it needs a registry host and a repository (host:port/repo:tag)');
  const host = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  if (!HOST.test(host) || !(host.includes('.') || host.includes(':') || host === 'localhost')) {
    throw bad(input, `"${host}" is not a registry host (it needs a dot, a port, or to be localhost)`);
  }
  let tag: string | null = null;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) throw bad(input, `tag "${tag}" is not a valid tag`);
  }
  const parts = path.split('/');
  if (path.length > 255 || parts.some((p) => !COMPONENT.test(p))) {
    throw bad(input, `repository "${path}" must be lowercase components separated by '/' (letters, digits, single '.', '_' or '-')`);
  }
  return { host, repository: path, tag, digest, scheme };
}

/** The text form of a reference (without scheme). */
export function formatReference(ref: Reference): string {
  return `${ref.host}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** True for localhost, 127.0.0.0/8 and ::1 (with or without a port). */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:[0-9]+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(name);
}

/**
 * The base URL to talk to. HTTPS unless the host is loopback or `insecure` is set; an explicit
 * `http://` to any other host without `insecure` is refused.
 */
export function baseUrl(ref: Reference, insecure = false): string {
  const plainOk = insecure || isLoopbackHost(ref.host);
  if (ref.scheme === 'http' && !plainOk) {
    throw RegistryInsecureRefused(`refusing plain HTTP to ${ref.host}: it is not a loopback address; pass insecure to allow it`, { data: { host: ref.host } });
  }
  const scheme = ref.scheme ?? (plainOk ? 'http' : 'https');
  return `${scheme}://${ref.host}`;
}
