/**
 * Identifiers: a prefix naming the kind (`vm_`, `inv_`, `req_`) and 20 characters that sort by
 * creation time (a millisecond timestamp in base 36, then randomness), so ids in logs and listings
 * read in order without a lookup.
 */
import { randomBytes } from 'node:crypto';

export function newId(prefix: string): string {
  const time = Date.now().toString(36).padStart(9, '0');
  const rand = randomBytes(8).toString('hex').slice(0, 11);
  return `${prefix}_${time}${rand}`;
}
