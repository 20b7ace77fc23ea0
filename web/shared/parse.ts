// One entry point for every supported file: detects the format from the bytes (falling back to the
// extension for the message) and returns the arrays the user can choose from, plus a sampling rate stored
// in the file (a scalar named as in schemas/trace-files.json, the names Python reads too).

import type { NamedArray } from './array';
import { ParseError, type Skipped, asParseError } from './errors';
import { FS_NAMES, MAX_FS_HZ } from './limits';
import { parseMat } from './mat';
import { isNpy, parseNpy } from './npy';
import { isZip, parseNpz } from './npz';

export interface ParsedFile {
  filename: string;
  format: 'npy' | 'npz' | 'mat';
  arrays: NamedArray[];
  skipped: Skipped[];
  /** A sampling rate stored next to the traces (.mat variable or .npz member), in Hz. */
  fs?: { value: number; name: string };
}

/** The first scalar named like a sampling rate (FS_NAMES order) with a positive, finite value up to MAX_FS_HZ
 * (the rule of Python's calab._readers.stored_fs). */
export function storedFs(arrays: NamedArray[]): { value: number; name: string } | undefined {
  for (const name of FS_NAMES) {
    const a = arrays.find((x) => x.name === name);
    if (a && a.data.length === 1 && Number.isFinite(a.data[0]) && a.data[0] > 0 && a.data[0] <= MAX_FS_HZ)
      return { value: a.data[0], name };
  }
  return undefined;
}

function withFs(p: ParsedFile): ParsedFile {
  const fs = p.format === 'npy' ? undefined : storedFs(p.arrays);
  return fs ? { ...p, fs } : p;
}

export const SUPPORTED_EXTENSIONS = ['.npy', '.npz', '.mat'];

export function parseFile(filename: string, bytes: Uint8Array): ParsedFile {
  const lower = filename.toLowerCase();
  try {
    if (isNpy(bytes))
      return { filename, format: 'npy', arrays: [{ name: stem(filename), ...parseNpy(bytes, filename) }], skipped: [] };
    if (isZip(bytes)) return withFs({ filename, format: 'npz', ...parseNpz(bytes, filename) });
    if (lower.endsWith('.mat') || /^MATLAB/.test(String.fromCharCode(...bytes.subarray(0, 6)))) {
      return withFs({ filename, format: 'mat', ...parseMat(bytes, filename) });
    }
    if (lower.endsWith('.npy'))
      return { filename, format: 'npy', arrays: [{ name: stem(filename), ...parseNpy(bytes, filename) }], skipped: [] };
    if (lower.endsWith('.npz')) return withFs({ filename, format: 'npz', ...parseNpz(bytes, filename) });
  } catch (e) {
    throw asParseError(e, 'BAD_HEADER', filename);
  }
  throw new ParseError(
    'UNSUPPORTED_FORMAT',
    `${filename}: unrecognised file type; CaTune reads ${SUPPORTED_EXTENSIONS.join(', ')} (NumPy arrays and MATLAB v5/v7 files).`,
  );
}

function stem(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? filename;
  return base.replace(/\.[^.]*$/, '');
}
