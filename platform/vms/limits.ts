/**
 * The sizes a VM may ask for. The CLI checks its flags against them before any request and the
 * API checks every body, so a typo is a one-line error instead of a VM of some other size. They
 * match the bounds of a function's `memoryMiB` and `vcpus` settings (platform/config/schema.ts).
 */
import { BadRequest } from '../errors.ts';

export const VM_LIMITS = {
  memoryMiB: { min: 16, max: 32_768, flag: '--memory', unit: 'MiB' },
  vcpus: { min: 1, max: 32, flag: '--vcpus', unit: 'vCPUs' },
} as const;

export type VmSizeKey = keyof typeof VM_LIMITS;

/** Throws `bad_request` naming `field` and its range unless `value` is undefined or an integer in range. */
export function checkVmSize(field: VmSizeKey, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const { min, max, unit } = VM_LIMITS[field];
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  throw BadRequest(`"${field}" must be an integer from ${min} to ${max} (${unit}); got ${JSON.stringify(value)}`, {
    data: { field, min, max, value: value ?? null },
  });
}
