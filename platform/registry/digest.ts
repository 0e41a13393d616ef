/**
 * Content digests and the naming rules of the registry, as pure functions.
 *
 * Digests are the only thing that ever becomes part of a blob path, so validating them here is
 * what keeps `../` and NUL bytes out of the store. Names and tags follow a conservative subset
 * of OCI tag syntax: no `/`, no `..`, no control characters, so they are safe in URLs, file names
 * and CLI arguments alike.
 */
import { RegistryInvalidDigest, RegistryInvalidName } from './errors.ts';

/** `sha256:` followed by 64 lowercase hex digits. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ROLE_RE = /^[a-z][a-z0-9-]{0,31}$/;
const LABEL_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/** Returns the digest unchanged or throws `registry_invalid_digest`. */
export function assertDigest(value: unknown, what = 'digest'): Digest {
  if (!isDigest(value)) {
    throw RegistryInvalidDigest(`${what} ${JSON.stringify(String(value).slice(0, 100))} is not sha256: followed by 64 lowercase hex digits`, {
      data: { digest: String(value).slice(0, 100) },
    });
  }
  return value;
}

/** The 64 hex digits of a validated digest. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

function checkName(kind: string, value: unknown, re: RegExp): string {
  if (typeof value !== 'string' || !re.test(value) || value.includes('..')) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 140)) : String(value);
    throw RegistryInvalidName(
      `${kind} ${shown} is not allowed: use letters, digits, '.', '_' and '-', start with a letter or digit, no '..', at most 128 characters`,
      {
        data: { kind, value: typeof value === 'string' ? value.slice(0, 140) : null },
      },
    );
  }
  return value;
}

/** Snapshot names: unique, human-chosen, never starting with `snap_` (reserved for ids). */
export function assertSnapshotName(value: unknown): string {
  const name = checkName('snapshot name', value, NAME_RE);
  if (name.startsWith('snap_'))
    throw RegistryInvalidName(`snapshot name "${name}" must not start with "snap_", which is reserved for ids`, {
      data: { kind: 'snapshot name', value: name },
    });
  return name;
}

/** Tags: like names, a second handle for one snapshot (`latest`, `v3`). */
export function assertTag(value: unknown): string {
  return checkName('tag', value, NAME_RE);
}

/** File roles inside a snapshot: `memory`, `state`, `disk`, `bundle`, `sourcemap`… */
export function assertRole(value: unknown): string {
  if (typeof value !== 'string' || !ROLE_RE.test(value)) {
    throw RegistryInvalidName(
      `file role ${JSON.stringify(String(value).slice(0, 40))} is not allowed: lowercase letters, digits and '-', at most 32 characters`,
      {
        data: { kind: 'role', value: String(value).slice(0, 40) },
      },
    );
  }
  return value;
}

/** Label keys: like names, plus '/' for namespaces (`ignition.dev/function`). */
export function assertLabelKey(value: unknown): string {
  return checkName('label key', value, LABEL_KEY_RE);
}

/** Snapshot ids are `snap_` followed by 20 lowercase hex digits. */
export function isSnapshotId(value: string): boolean {
  return /^snap_[0-9a-f]{20}$/.test(value);
}
