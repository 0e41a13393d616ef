/**
 * Sealing one secret: AES-256-GCM with a fresh random 12-byte nonce per write and a 16-byte tag.
 * The additional authenticated data binds the ciphertext to its function and name, so a row
 * copied onto another function or renamed in the database fails to open instead of handing one
 * function another's secret. Pure functions: no files, no database.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;

export interface Sealed {
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/** NUL separates the parts: neither function names nor secret names can contain it. */
export function additionalData(fn: string, name: string): Buffer {
  return Buffer.from(`ignition-secret\0v1\0${fn}\0${name}`, 'utf8');
}

export function seal(key: Buffer, fn: string, name: string, value: string): Sealed {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(fn, name));
  const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return { nonce, ciphertext, tag: cipher.getAuthTag() };
}

/** The plaintext, or null when authentication fails (wrong key, altered bytes, wrong fn/name). */
export function open(key: Buffer, fn: string, name: string, sealed: Sealed): string | null {
  if (sealed.nonce.length !== NONCE_BYTES || sealed.tag.length !== TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(additionalData(fn, name));
    decipher.setAuthTag(sealed.tag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/** A short, non-reversible name for a key, stored beside each ciphertext to tell keys apart. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('ignition secrets key id\0').update(key).digest('hex').slice(0, 16);
}
