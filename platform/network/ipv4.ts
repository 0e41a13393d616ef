/**
 * IPv4 address and CIDR arithmetic on plain numbers (no I/O, no dependencies).
 *
 * Addresses are unsigned 32-bit integers so slot arithmetic is ordinary addition; `>>> 0` keeps
 * every intermediate result unsigned (JavaScript bit operators work on signed 32-bit values).
 */
import { NetInvalidConfig } from './errors.ts';

/** A parsed, canonical IPv4 network: `base` has no host bits set. */
export interface Cidr {
  base: number;
  prefix: number;
  /** Number of addresses in the network (2^(32-prefix)). */
  size: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Parses dotted-quad IPv4 text into a number; null when it is not one. */
export function parseIp(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return null;
  return parts.reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0);
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses `a.b.c.d/p`. Host bits must be zero: `10.0.0.1/16` is rejected rather than silently
 * widened, because a typo in a subnet would otherwise move every slot's addresses.
 * `what` names the setting in the error message.
 */
export function parseCidr(text: string, what: string): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text.trim());
  const ip = m ? parseIp(m[1]) : null;
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || ip === null || prefix > 32) {
    throw NetInvalidConfig(`${what} "${text}" is not an IPv4 CIDR such as 10.201.0.0/16.`, { data: { setting: what, value: text } });
  }
  const base = (ip & maskOf(prefix)) >>> 0;
  if (base !== ip) {
    throw NetInvalidConfig(`${what} "${text}" has host bits set; did you mean ${formatIp(base)}/${prefix}?`, {
      data: { setting: what, value: text },
    });
  }
  return { base, prefix, size: 2 ** (32 - prefix) };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

/** True when the two networks share at least one address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  const mask = maskOf(prefix);
  return (a.base & mask) >>> 0 === (b.base & mask) >>> 0;
}

/** The `i`-th address of a network (0 = the network address). */
export function nth(c: Cidr, i: number): number {
  return (c.base + i) >>> 0;
}
