/**
 * Which shared libraries a binary needs, from `ldd`, so the image can carry this machine's Node
 * and exactly the libraries it loads, at the paths the dynamic loader looks in (no debootstrap).
 * The parser is pure and tested on captured output; only `sharedLibraries` runs a process.
 */
import { ImageInputMissing } from './errors.ts';
import { requireTool, runTool } from './tools.ts';

export interface LddResult {
  /** Absolute paths of the libraries and the loader, in the order ldd printed them. */
  paths: string[];
  /** Library names ldd could not resolve. */
  missing: string[];
  /** True for a static binary (nothing to copy). */
  isStatic: boolean;
}

/** Parses `ldd` output. Virtual objects without a file (linux-vdso) are skipped. */
export function parseLdd(text: string): LddResult {
  const paths: string[] = [];
  const missing: string[] = [];
  let isStatic = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (/statically linked|not a dynamic executable/.test(line)) {
      isStatic = true;
      continue;
    }
    const arrow = /^(\S+)\s+=>\s+(\S+)/.exec(line);
    if (arrow) {
      if (arrow[2] === 'not') missing.push(arrow[1]);
      else if (arrow[2].startsWith('/')) paths.push(arrow[2]);
      continue;
    }
    const direct = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (direct) paths.push(direct[1]);
  }
  return { paths, missing, isStatic };
}

/** The absolute library paths `binary` needs; throws when ldd cannot resolve one. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const ldd = requireTool('ldd');
  const { stdout } = await runTool(ldd, [binary]).catch((err) => {
    // ldd exits 1 for static binaries on some systems; its stdout still says so.
    if (/not a dynamic executable|statically linked/.test(String(err.message))) {
      return { stdout: 'not a dynamic executable', stderr: '' };
    }
    throw err;
  });
  const result = parseLdd(stdout);
  if (result.missing.length) {
    throw ImageInputMissing(`${binary} needs libraries ldd cannot find: ${result.missing.join(', ')}`, {
      data: { binary, missing: result.missing },
    });
  }
  return result.paths;
}
