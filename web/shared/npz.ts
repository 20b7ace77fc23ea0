// Reader for NumPy .npz archives (zip of .npy members, stored or deflated), using fflate's synchronous
// unzip so it behaves the same in Node tests and browsers. Members that are not numeric are skipped
// and reported, so one odd entry does not make the whole archive unreadable.

import { unzipSync } from 'fflate';
import type { NamedArray } from './array';
import { ParseError, asParseError } from './errors';
import { parseNpy } from './npy';

export function isZip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export interface ContainerResult {
  arrays: NamedArray[];
  /** Entries that could not be used, with the reason. */
  skipped: { name: string; reason: string }[];
}

export function parseNpz(bytes: Uint8Array, where = 'file'): ContainerResult {
  let files: Record<string, Uint8Array>;
  try {
    if (!isZip(bytes)) throw new ParseError('BAD_ZIP', `${where}: not a zip archive, so not a valid .npz.`);
    files = unzipSync(bytes);
  } catch (e) {
    throw asParseError(e, 'BAD_ZIP', `${where}: the .npz archive is corrupt or truncated`);
  }
  const arrays: NamedArray[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const [entry, content] of Object.entries(files)) {
    if (!entry.endsWith('.npy')) {
      skipped.push({ name: entry, reason: 'not a .npy member' });
      continue;
    }
    const name = entry.slice(0, -4);
    try {
      arrays.push({ name, ...parseNpy(content, `${where}:${name}`) });
    } catch (e) {
      skipped.push({ name, reason: e instanceof Error ? e.message : String(e) });
    }
  }
  if (arrays.length === 0) {
    const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
    throw new ParseError('NO_NUMERIC_ARRAY', `${where}: no numeric array in the archive${why ? ` (${why})` : ''}.`);
  }
  return { arrays, skipped };
}
