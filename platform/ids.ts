/**
 * Identifiers: a prefix naming the kind (`vm_`, `inv_`, `req_`) and 20 characters that sort by
 * creation time (a millisecond timestamp in base 36), then a per-process random part and a counter.
 * Unique without a crypto call per id: request ids are made on the hot path, and they identify
 * rather than authenticate (tokens and secrets use node:crypto directly).
 */
import { randomBytes } from 'node:crypto';

const processPart = randomBytes(4).toString('hex').slice(0, 6);
let counter = Math.floor(Math.random() * 36 ** 4);

export function newId(prefix: string): string {
  const time = Date.now().toString(36).padStart(9, '0');
  counter = (counter + 1) % 36 ** 5;
  return `${prefix}_${time}${processPart}${counter.toString(36).padStart(5, '0')}`;
}
