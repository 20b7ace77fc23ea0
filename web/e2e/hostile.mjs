// Hostile traces files, built in memory for the parser tests (vitest) and the browser tests (e2e): .npy
// headers, zip archives written field by field (so sizes and CRCs can lie), a 2 MB .npz that inflates to
// 1 x 268,435,456 float64 frames, and .mat files with chosen dimensions. Plain JavaScript on Node's zlib.
import { constants, deflateRawSync, gzipSync } from 'node:zlib';

const enc = new TextEncoder();

/** A .npy file: version 1.0 header for `dict` (a Python dict literal), padded as numpy does, then `data`. */
export function npyBytes(dict, data = new Uint8Array(0)) {
  let header = dict;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(enc.encode(header), 10);
  out.set(data, 10 + header.length);
  return out;
}

/** A float64 .npy of `shape` holding `values` (row-major). */
export function f8Npy(shape, values) {
  const data = new Uint8Array(values.length * 8);
  const v = new DataView(data.buffer);
  values.forEach((x, i) => v.setFloat64(i * 8, x, true));
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  return npyBytes(`{'descr': '<f8', 'fortran_order': False, 'shape': (${dims}), }`, data);
}

/** CRC-32 of `data`, read from the trailer of Node's gzip (no second CRC implementation to trust). */
export function crc32(data) {
  const gz = gzipSync(data);
  return gz.readUInt32LE(gz.length - 8);
}

/**
 * A zip archive of `members` [{ name, data (already compressed when method 8), method, size, crc }], with the
 * sizes and CRCs taken as given, so a test can make them lie.
 */
export function zipBytes(members) {
  const parts = [];
  const central = [];
  let offset = 0;
  for (const m of members) {
    const name = enc.encode(m.name);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, m.method, true);
    lv.setUint32(14, m.crc >>> 0, true);
    lv.setUint32(18, m.data.length, true);
    lv.setUint32(22, m.size >>> 0, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, m.method, true);
    cv.setUint32(16, m.crc >>> 0, true);
    cv.setUint32(20, m.data.length, true);
    cv.setUint32(24, m.size >>> 0, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);
    parts.push(local, m.data);
    central.push(cd);
    offset += local.length + m.data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, members.length, true);
  ev.setUint16(10, members.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const all = [...parts, ...central, eocd];
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
  let p = 0;
  for (const c of all) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

/** An honest member: deflated (method 8) or stored (0), with its true size and CRC. */
export function member(name, content, method = 8) {
  return {
    name,
    method,
    data: method === 8 ? new Uint8Array(deflateRawSync(content)) : content,
    size: content.length,
    crc: crc32(content),
  };
}

/**
 * The probe's zip bomb: a .npz of about 2 MB whose one member is a float64 .npy of shape (1, 268435456), i.e.
 * 2 GiB of zeros once inflated. The deflate stream is a header block plus one independently compressed 1 MiB
 * block of zeros repeated 2048 times (full flushes make the repeats byte-identical). `declaredSize` is what the
 * archive claims (the truth by default; a smaller lie to test that inflation stops at the claim).
 */
export function zipBomb(declaredSize) {
  const frames = 268435456;
  const header = npyBytes(`{'descr': '<f8', 'fortran_order': False, 'shape': (1, ${frames}), }`);
  const full = { finishFlush: constants.Z_FULL_FLUSH };
  const head = deflateRawSync(header, full);
  const zeros = deflateRawSync(new Uint8Array(1 << 20), full);
  const end = deflateRawSync(new Uint8Array(0));
  const repeats = (frames * 8) / (1 << 20);
  const data = new Uint8Array(head.length + zeros.length * repeats + end.length);
  data.set(head, 0);
  for (let i = 0; i < repeats; i++) data.set(zeros, head.length + i * zeros.length);
  data.set(end, head.length + repeats * zeros.length);
  const size = declaredSize ?? header.length + frames * 8;
  return zipBytes([{ name: 'traces.npy', method: 8, data, size, crc: 0x12345678 }]);
}

/**
 * A MATLAB level-5 .mat holding one double matrix `name` with dimensions `dims` (as stored, so they may be
 * negative) and `values` (column-major), optionally followed by a scalar `fs`.
 */
export function matBytes(name, dims, values, fs) {
  const el = (type, payload) => {
    const pad = (8 - (payload.length % 8)) % 8;
    const out = new Uint8Array(8 + payload.length + pad);
    const v = new DataView(out.buffer);
    v.setUint32(0, type, true);
    v.setUint32(4, payload.length, true);
    out.set(payload, 8);
    return out;
  };
  const cat = (arrs) => {
    const out = new Uint8Array(arrs.reduce((a, c) => a + c.length, 0));
    let p = 0;
    for (const c of arrs) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  };
  const matrix = (nm, ds, vals) => {
    const flags = new Uint8Array(8);
    new DataView(flags.buffer).setUint32(0, 6, true); // mxDOUBLE_CLASS
    const d = new Uint8Array(ds.length * 4);
    ds.forEach((x, i) => new DataView(d.buffer).setInt32(i * 4, x, true));
    const data = new Uint8Array(vals.length * 8);
    vals.forEach((x, i) => new DataView(data.buffer).setFloat64(i * 8, x, true));
    return el(14, cat([el(6, flags), el(5, d), el(1, enc.encode(nm)), el(9, data)]));
  };
  const head = new Uint8Array(128);
  head.fill(0x20, 0, 116);
  head.set(enc.encode('MATLAB 5.0 MAT-file, written by calab tests'), 0);
  new DataView(head.buffer).setUint16(124, 0x0100, true);
  head.set(enc.encode('IM'), 126);
  const parts = [head, matrix(name, dims, values)];
  if (fs !== undefined) parts.push(matrix('fs', [1, 1], [fs]));
  return cat(parts);
}

/**
 * Writes the worst hostile files into `dir` and returns [file, expected ParseError code, message pattern]:
 * the zip bomb, a 2 GiB all-zero .npy (a sparse file: no disk is used), a header declaring 1 x 268,435,456
 * frames with no data behind it, a bad CRC, negative .mat dimensions and a 0-cell file.
 */
export async function writeHostileFiles(dir) {
  const { closeSync, openSync, writeSync, ftruncateSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const p = (name) => join(dir, name);
  writeFileSync(p('bomb.npz'), zipBomb());
  const header = npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 268435456), }");
  const fd = openSync(p('zeros_2gib.npy'), 'w');
  writeSync(fd, header);
  ftruncateSync(fd, header.length + 268435456 * 8);
  closeSync(fd);
  writeFileSync(p('header_only.npy'), header);
  const good = f8Npy(
    [2, 12],
    Array.from({ length: 24 }, (_, i) => Math.sin(i)),
  );
  const m = member('traces.npy', good);
  writeFileSync(p('bad_crc.npz'), zipBytes([{ ...m, crc: m.crc ^ 0x10 }]));
  writeFileSync(p('negative.mat'), matBytes('traces', [-3, 5], [1, 2, 3]));
  writeFileSync(p('zero_cells.npy'), f8Npy([0, 1500], []));
  return [
    ['bomb.npz', 'TOO_LARGE', /nothing was inflated/],
    ['zeros_2gib.npy', 'TOO_LARGE', /not opened/],
    ['header_only.npy', 'TOO_LARGE', /268,435,456 values/],
    ['bad_crc.npz', 'BAD_CRC', /CRC-32/],
    ['negative.mat', 'BAD_SHAPE', /negative/],
    ['zero_cells.npy', 'EMPTY', /no values/],
  ].map(([f, code, re]) => [p(f), code, re]);
}

/** The whole browser test for one app: open it, feed the hostile files, import a good one, no page errors. */
export async function testHostileImports(openPage, base) {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join, resolve, dirname } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const good = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures'), 'e2e_traces.npy');
  const dir = mkdtempSync(join(tmpdir(), 'calab-hostile-'));
  try {
    const { page, context, check } = await openPage(base);
    await page.waitForSelector('[data-testid="file-input"]');
    await checkHostileImports(page, dir, good);
    check();
    await context.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Feeds every hostile file to the page's file input and checks each is refused with its code shown, the page
 * answering between them; then a good file still imports (the app stayed responsive).
 */
export async function checkHostileImports(page, dir, goodFile) {
  const { strict: assert } = await import('node:assert');
  for (const [file, code, pattern] of await writeHostileFiles(dir)) {
    await page.setInputFiles('[data-testid="file-input"]', file);
    await page.waitForFunction(
      (c) => {
        const box = document.querySelector('[data-testid="import-error"]');
        return box && !box.hidden && box.dataset.code === c;
      },
      code,
      { timeout: 30_000 },
    );
    const text = await page.textContent('[data-testid="import-error"]');
    assert.match(text, new RegExp(`\\[${code}\\]`), `${file}: the code is shown`);
    assert.match(text, pattern, `${file}: ${text}`);
    assert.equal(await page.evaluate(() => 1 + 1), 2, 'the page still answers');
  }
  await page.setInputFiles('[data-testid="file-input"]', goodFile);
  await page.waitForSelector('[data-testid="import-confirm"]', { timeout: 30_000 });
}
