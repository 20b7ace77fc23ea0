// Bounded-time fuzzing of the browser's file parsers (npy, npz, mat, and parseFile on anything): random
// bytes and mutations of real numpy/scipy files and of files rebuilt with valid checksums around mutated
// content. Every input must either parse into a well-formed array or throw a ParseError with a known code;
// any other exception (RangeError, TypeError, an fflate error...) is a bug. Each parser gets FUZZ_MS
// milliseconds (CALAB_FUZZ_MS overrides; default 2500); the counts are printed. A failure names the seed
// and input number, so `CALAB_FUZZ_SEED=<seed>` replays it.
import { readdirSync, readFileSync } from 'node:fs';
import { deflateRawSync, deflateSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import type { NumericArray } from '../shared/array';
import { ParseError, type ParseErrorCode } from '../shared/errors';
import { MAX_VALUES } from '../shared/limits';
import { parseMat } from '../shared/mat';
import { parseNpy } from '../shared/npy';
import { parseNpz } from '../shared/npz';
import { parseFile } from '../shared/parse';
import { f8Npy, matBytes, member, npyBytes, zipBytes } from '../e2e/hostile.mjs';

const FUZZ_MS = Number(process.env.CALAB_FUZZ_MS ?? 2500);
const SEED = Number(process.env.CALAB_FUZZ_SEED ?? 20261202);
const CODES: ParseErrorCode[] = [
  'TRUNCATED',
  'BAD_MAGIC',
  'BAD_HEADER',
  'UNSUPPORTED_VERSION',
  'UNSUPPORTED_DTYPE',
  'BAD_SHAPE',
  'BAD_ZIP',
  'NO_NUMERIC_ARRAY',
  'MAT_V73',
  'MAT_V4',
  'UNSUPPORTED_FORMAT',
  'TOO_LARGE',
  'EMPTY',
  'BAD_CRC',
];

const dir = new URL('./fixtures/', import.meta.url);
const fixtures = (ext: string): Uint8Array[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .map((f) => new Uint8Array(readFileSync(new URL(f, dir))));

/** mulberry32: small, fast, good enough to pick mutations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [
  0,
  1,
  2,
  7,
  8,
  0x7f,
  0x80,
  0xff,
  0xffff,
  0x7fffffff,
  0x80000000,
  0xffffffff,
  65536,
  1 << 20,
  268435456,
];

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  const n = (k: number): number => Math.floor(r() * k);
  let b = src.slice();
  const rounds = 1 + n(4);
  for (let k = 0; k < rounds; k++) {
    const at = b.length ? n(b.length) : 0;
    switch (n(9)) {
      case 0:
        if (b.length) b[at] ^= 1 << n(8);
        break; // bit flip
      case 1:
        if (b.length) b[at] = [0, 0xff, 0x7f, 0x80, 0x20, 0x2c, 0x29, 0x2d][n(8)];
        break; // byte
      case 2: {
        // a 16- or 32-bit field set to an interesting value
        if (b.length >= at + 4) {
          const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
          const x = INTERESTING[n(INTERESTING.length)];
          if (r() < 0.5) v.setUint32(at, x >>> 0, r() < 0.8);
          else v.setUint16(at, x & 0xffff, r() < 0.8);
        }
        break;
      }
      case 3:
        b = b.subarray(0, n(b.length + 1)).slice();
        break; // truncate
      case 4: {
        // delete a run
        const len = 1 + n(16);
        b = new Uint8Array([...b.subarray(0, at), ...b.subarray(at + len)]);
        break;
      }
      case 5: {
        // insert random bytes
        const ins = Uint8Array.from({ length: 1 + n(16) }, () => n(256));
        b = new Uint8Array([...b.subarray(0, at), ...ins, ...b.subarray(at)]);
        break;
      }
      case 6: {
        // duplicate a run
        const len = 1 + n(64);
        b = new Uint8Array([...b.subarray(0, at + len), ...b.subarray(at, at + len), ...b.subarray(at + len)]);
        break;
      }
      case 7: {
        // overwrite a digit run in a text header (shapes, dtypes)
        const s = [..."0123456789(),-L '<>|fiub"][n(24)];
        if (b.length) b[at] = s.charCodeAt(0);
        break;
      }
      default: {
        // splice in a piece of another place of the file
        const from = b.length ? n(b.length) : 0;
        const len = n(32);
        b.set(b.subarray(from, from + len).slice(0, Math.max(0, b.length - at)), at);
      }
    }
  }
  return b;
}

/** What is wrong with a parsed array, if anything: 1-D/2-D, every dimension >= 1, data to match, in limits. */
function malformed(a: NumericArray): string | null {
  if (!(a.shape.length === 1 || a.shape.length === 2)) return `shape ${a.shape} is not 1-D or 2-D`;
  if (!a.shape.every((d) => Number.isInteger(d) && d >= 1)) return `shape ${a.shape} has a dimension below 1`;
  if (a.shape.reduce((x, y) => x * y, 1) !== a.data.length) return `shape ${a.shape} but ${a.data.length} values`;
  if (a.data.length > MAX_VALUES) return `${a.data.length} values, above the limit`;
  if (!(a.data instanceof Float64Array)) return 'data is not a Float64Array';
  return null;
}

type Gen = (r: () => number) => Uint8Array;

function fuzz(label: string, parse: (b: Uint8Array) => NumericArray[], gens: Gen[]): void {
  const r = rng(SEED);
  const codes = new Map<string, number>();
  let count = 0;
  let parsed = 0;
  const end = performance.now() + FUZZ_MS;
  while (performance.now() < end) {
    const input = gens[Math.floor(r() * gens.length)](r);
    count++;
    const where = (): string =>
      `${label}: input #${count} (seed ${SEED}, ${input.length} bytes ${Buffer.from(input.subarray(0, 48)).toString('hex')}...)`;
    let arrays: NumericArray[];
    try {
      arrays = parse(input);
    } catch (e) {
      if (!(e instanceof ParseError) || !CODES.includes(e.code)) {
        throw new Error(`${where()} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      continue;
    }
    parsed++;
    for (const a of arrays) {
      const wrong = malformed(a);
      if (wrong) throw new Error(`${where()} parsed into a malformed array: ${wrong}`);
    }
  }
  const summary = [...codes]
    .sort((a, b) => b[1] - a[1])
    .map(([c, k]) => `${c} ${k}`)
    .join(', ');
  console.log(`fuzz ${label}: ${count} inputs in ${FUZZ_MS} ms, ${parsed} parsed, refusals: ${summary}`);
  expect(count).toBeGreaterThan(50);
  expect(codes.size).toBeGreaterThan(1); // the mutations reach more than one refusal path
}

const pick = <T>(xs: T[], r: () => number): T => xs[Math.floor(r() * xs.length)];
const randomBytes: Gen = (r) => Uint8Array.from({ length: Math.floor(r() * 512) }, () => Math.floor(r() * 256));
const sample = (n: number, r: () => number): number[] =>
  Array.from({ length: n }, () => (r() - 0.5) * 10 ** Math.floor(r() * 8));

describe('fuzz: no exception but ParseError escapes a parser', () => {
  const npys = [
    ...fixtures('.npy'),
    f8Npy([3, 4], sample(12, rng(1))),
    npyBytes("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(32)),
  ];
  test(
    'npy',
    () => {
      fuzz('npy', (b) => [parseNpy(b)], [
        (r) => mutate(pick(npys, r), r),
        (r) => mutate(mutate(pick(npys, r), r), r),
        randomBytes,
      ]);
    },
    FUZZ_MS * 4 + 10_000,
  );

  const npzs = fixtures('.npz');
  test(
    'npz',
    () => {
      fuzz('npz', (b) => parseNpz(b).arrays, [
        (r) => mutate(pick(npzs, r), r),
        // valid zip, mutated member content with a correct CRC: reaches the .npy parser behind the zip checks
        (r) =>
          zipBytes([
            member('traces.npy', mutate(pick(npys, r), r), r() < 0.5 ? 8 : 0),
            member('fs.npy', pick(npys, r), 0),
          ]),
        // valid zip around a valid deflate stream, sizes and CRC left as mutated
        (r) => mutate(zipBytes([member('t.npy', pick(npys, r))]), r),
        (r) => {
          const b = pick(npys, r);
          return zipBytes([
            { name: 'x.npy', method: 8, data: mutate(new Uint8Array(deflateRawSync(b)), r), size: b.length, crc: 0 },
          ]);
        },
        randomBytes,
      ]);
    },
    FUZZ_MS * 4 + 10_000,
  );

  const mats = [...fixtures('.mat'), matBytes('traces', [3, 4], sample(12, rng(2)), 30)];
  const compressed = (inner: Uint8Array): Uint8Array => {
    // one miCOMPRESSED element (type 15) around `inner` (the elements after the 128-byte header)
    const z = new Uint8Array(deflateSync(inner));
    const out = new Uint8Array(128 + 8 + z.length);
    out.set(inner.length ? mats[mats.length - 1].subarray(0, 128) : new Uint8Array(128));
    const v = new DataView(out.buffer);
    v.setUint32(128, 15, true);
    v.setUint32(132, z.length, true);
    out.set(z, 136);
    return out;
  };
  test(
    'mat',
    () => {
      fuzz('mat', (b) => parseMat(b).arrays, [
        (r) => mutate(pick(mats, r), r),
        (r) => {
          const m = pick(mats, r);
          return new Uint8Array([...m.subarray(0, 128), ...mutate(m.subarray(128), r)]);
        },
        // mutated content behind a valid zlib stream: reaches the matrix parser inside compressed variables
        (r) => compressed(mutate(mats[mats.length - 1].subarray(128), r)),
        (r) =>
          matBytes(
            'traces',
            [Math.floor(r() * 5) - 1, Math.floor(r() * 5) - 1],
            sample(Math.floor(r() * 12), r),
            r() < 0.5 ? r() * 100 - 10 : undefined,
          ),
        randomBytes,
      ]);
    },
    FUZZ_MS * 4 + 10_000,
  );

  const everything = [...npys, ...npzs, ...mats, ...fixtures('.bin')];
  test(
    'parseFile',
    () => {
      fuzz('parseFile', (b) => parseFile(pick(['x.npy', 'x.npz', 'x.mat', 'x.bin'], rng(b.length)), b).arrays, [
        (r) => mutate(pick(everything, r), r),
        randomBytes,
      ]);
    },
    FUZZ_MS * 4 + 10_000,
  );
});
