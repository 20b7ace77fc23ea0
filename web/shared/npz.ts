// Reader for NumPy .npz archives (zip of .npy members, stored or deflated, zip64 included as numpy writes
// it). The zip structure is read here, not by a general unzip, so that nothing is inflated before its
// declared size has been checked against the limits (a 2 MB archive can claim gigabytes), inflation stops
// the moment a member outgrows its declared size, and every member's CRC-32 is verified. Members that
// are not numeric are skipped and reported, so one odd entry does not make the whole archive unreadable.

import { Inflate } from 'fflate';
import type { NamedArray } from './array';
import { ParseError, type ParseErrorCode, type Skipped, asParseError } from './errors';
import { MAX_INFLATED_BYTES, mib } from './limits';
import { parseNpy } from './npy';

export function isZip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export interface ContainerResult {
  arrays: NamedArray[];
  /** Entries that could not be used, with the reason. */
  skipped: Skipped[];
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_ENTRIES = 10_000;
/** DEFLATE cannot expand data more than ~1032 times; a member claiming more is corrupt. */
const MAX_DEFLATE_RATIO = 1032;

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (zip, PNG) of `data`. */
export function crc32(data: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

interface Entry {
  name: string;
  flags: number;
  method: number;
  crc: number;
  compSize: number;
  size: number;
  localOffset: number;
}

const bad = (where: string, what: string): ParseError =>
  new ParseError('BAD_ZIP', `${where}: ${what} (the .npz archive is corrupt or truncated).`);

/** Reads the central directory (zip64 fields included) without touching any member's data. */
function centralDirectory(bytes: Uint8Array, where: string): Entry[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (p: number): number => v.getUint16(p, true);
  const u32 = (p: number): number => v.getUint32(p, true);
  const u64 = (p: number): number => u32(p) + u32(p + 4) * 2 ** 32;
  let eocd = -1;
  for (let p = bytes.length - 22; p >= Math.max(0, bytes.length - 22 - 0xffff); p--) {
    if (u32(p) === EOCD) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) throw bad(where, 'no end-of-archive record');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== ZIP64_LOCATOR) throw bad(where, 'zip64 fields without a zip64 locator');
    const z = u64(loc + 8);
    if (z + 56 > bytes.length || u32(z) !== ZIP64_EOCD) throw bad(where, 'a broken zip64 end record');
    count = u64(z + 32);
    cdSize = u64(z + 40);
    cdOffset = u64(z + 48);
  }
  if (count > MAX_ENTRIES) throw bad(where, `${count} entries`);
  if (cdOffset + cdSize > bytes.length) throw bad(where, 'the directory lies past the end of the file');
  const entries: Entry[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || u32(p) !== CENTRAL) throw bad(where, `directory entry ${i} is damaged`);
    const flags = u16(p + 8);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    if (p + 46 + nameLen + extraLen > bytes.length) throw bad(where, `directory entry ${i} is cut off`);
    const raw = bytes.subarray(p + 46, p + 46 + nameLen);
    const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(raw);
    const e: Entry = {
      name,
      flags,
      method: u16(p + 10),
      crc: u32(p + 16),
      compSize: u32(p + 20),
      size: u32(p + 24),
      localOffset: u32(p + 42),
    };
    // zip64 extra field: the 64-bit values of whichever fields were saturated, in this order.
    for (let q = p + 46 + nameLen; q + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = u16(q);
      const len = u16(q + 2);
      if (id === 0x0001) {
        let r = q + 4;
        const take = (): number => {
          if (r + 8 > q + 4 + len) throw bad(where, `entry ${name} has a short zip64 field`);
          const x = u64(r);
          r += 8;
          return x;
        };
        if (e.size === 0xffffffff) e.size = take();
        if (e.compSize === 0xffffffff) e.compSize = take();
        if (e.localOffset === 0xffffffff) e.localOffset = take();
      }
      q += 4 + len;
    }
    entries.push(e);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Inflates `data`, stopping as soon as the output would pass `size`; the output must be exactly `size`. */
function inflateBounded(data: Uint8Array, size: number, where: string): Uint8Array {
  const out = new Uint8Array(size);
  let n = 0;
  const inflater = new Inflate((chunk) => {
    if (n + chunk.length > size)
      throw new ParseError(
        'BAD_ZIP',
        `${where} inflates to more than the ${size} bytes it declares (a corrupt or hostile archive); it was not read further.`,
      );
    out.set(chunk, n);
    n += chunk.length;
  });
  const step = 1 << 14;
  if (data.length === 0) inflater.push(data, true);
  for (let p = 0; p < data.length; p += step) inflater.push(data.subarray(p, p + step), p + step >= data.length);
  if (n !== size)
    throw new ParseError(
      'BAD_ZIP',
      `${where} inflates to ${n} bytes but declares ${size} (corrupt or truncated archive).`,
    );
  return out;
}

/** The bytes of one member: size checks first, then inflation (bounded) and the CRC-32. */
function memberBytes(bytes: Uint8Array, e: Entry, where: string): Uint8Array {
  if (e.flags & 0x1) throw new ParseError('BAD_ZIP', `${where} is encrypted; save the archive without a password.`);
  if (e.method !== 0 && e.method !== 8)
    throw new ParseError(
      'BAD_ZIP',
      `${where} uses compression method ${e.method}; numpy writes stored (0) or deflated (8) members.`,
    );
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = e.localOffset;
  if (lo + 30 > bytes.length || v.getUint32(lo, true) !== LOCAL) throw bad(where, 'its local header is missing');
  const start = lo + 30 + v.getUint16(lo + 26, true) + v.getUint16(lo + 28, true);
  if (start + e.compSize > bytes.length) throw bad(where, 'its data runs past the end of the file');
  const data = bytes.subarray(start, start + e.compSize);
  if (e.method === 0 && e.compSize !== e.size)
    throw bad(where, `stored with ${e.compSize} bytes but declaring ${e.size}`);
  if (e.method === 8 && e.size > e.compSize * MAX_DEFLATE_RATIO + 1024)
    throw bad(where, `${e.compSize} compressed bytes cannot inflate to the declared ${e.size}`);
  const content = e.method === 0 ? data : inflateBounded(data, e.size, where);
  if (crc32(content) !== e.crc) {
    throw new ParseError(
      'BAD_CRC',
      `${where}: the CRC-32 check failed, so its values are not what was saved (a damaged file); re-save or re-copy it.`,
    );
  }
  return content;
}

export function parseNpz(bytes: Uint8Array, where = 'file'): ContainerResult {
  let entries: Entry[];
  try {
    if (!isZip(bytes)) throw new ParseError('BAD_ZIP', `${where}: not a zip archive, so not a valid .npz.`);
    entries = centralDirectory(bytes, where);
  } catch (e) {
    throw asParseError(e, 'BAD_ZIP', `${where}: the .npz archive is corrupt or truncated`);
  }
  // Refuse before inflating anything: what the members declare, all together, must fit.
  const npy = entries.filter((e) => e.name.endsWith('.npy'));
  const declared = npy.reduce((a, e) => a + e.size, 0);
  if (declared > MAX_INFLATED_BYTES) {
    const biggest = npy.reduce((a, e) => (e.size > a.size ? e : a));
    throw new ParseError(
      'TOO_LARGE',
      `${where}: its arrays would inflate to ${mib(declared)} (${biggest.name}: ${mib(biggest.size)}), more than the ${mib(MAX_INFLATED_BYTES)} the browser reads, so nothing was inflated. Save fewer cells or a shorter stretch, or use calab in Python for the whole recording.`,
    );
  }
  const arrays: NamedArray[] = [];
  const skipped: Skipped[] = [];
  const codes = new Set<ParseErrorCode>();
  for (const e of entries) {
    if (!e.name.endsWith('.npy')) {
      if (!e.name.endsWith('/')) skipped.push({ name: e.name, reason: 'not a .npy member' });
      continue;
    }
    const name = e.name.slice(0, -4);
    try {
      arrays.push({ name, ...parseNpy(memberBytes(bytes, e, `${where}:${name}`), `${where}:${name}`) });
    } catch (err) {
      const pe = asParseError(err, 'BAD_ZIP', `${where}:${name}`);
      // A damaged or oversized member taints the archive: say so rather than show the rest as fine.
      if (pe.code === 'BAD_CRC' || pe.code === 'BAD_ZIP' || pe.code === 'TOO_LARGE') throw pe;
      codes.add(pe.code);
      skipped.push({ name, reason: pe.message, code: pe.code });
    }
  }
  if (arrays.length === 0) {
    const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
    const code: ParseErrorCode = codes.size === 1 && codes.has('EMPTY') ? 'EMPTY' : 'NO_NUMERIC_ARRAY';
    throw new ParseError(code, `${where}: no numeric array in the archive${why ? ` (${why})` : ''}.`);
  }
  return { arrays, skipped };
}
