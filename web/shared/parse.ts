// One entry point for every supported file: detects the format from the bytes (falling back to the
// extension for the message) and returns the arrays the user can choose from.

import type { NamedArray } from './array';
import { ParseError, asParseError } from './errors';
import { parseMat } from './mat';
import { isNpy, parseNpy } from './npy';
import { isZip, parseNpz } from './npz';

export interface ParsedFile {
  filename: string;
  format: 'npy' | 'npz' | 'mat';
  arrays: NamedArray[];
  skipped: { name: string; reason: string }[];
}

export const SUPPORTED_EXTENSIONS = ['.npy', '.npz', '.mat'];

export function parseFile(filename: string, bytes: Uint8Array): ParsedFile {
  const lower = filename.toLowerCase();
  try {
    if (isNpy(bytes)) return { filename, format: 'npy', arrays: [{ name: stem(filename), ...parseNpy(bytes, filename) }], skipped: [] };
    if (isZip(bytes)) return { filename, format: 'npz', ...parseNpz(bytes, filename) };
    if (lower.endsWith('.mat') || /^MATLAB/.test(String.fromCharCode(...bytes.subarray(0, 6)))) {
      return { filename, format: 'mat', ...parseMat(bytes, filename) };
    }
    if (lower.endsWith('.npy')) return { filename, format: 'npy', arrays: [{ name: stem(filename), ...parseNpy(bytes, filename) }], skipped: [] };
    if (lower.endsWith('.npz')) return { filename, format: 'npz', ...parseNpz(bytes, filename) };
  } catch (e) {
    throw asParseError(e, 'BAD_HEADER', filename);
  }
  throw new ParseError('UNSUPPORTED_FORMAT', `${filename}: unrecognised file type; CaTune reads ${SUPPORTED_EXTENSIONS.join(', ')} (NumPy arrays and MATLAB v5/v7 files).`);
}

function stem(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? filename;
  return base.replace(/\.[^.]*$/, '');
}
