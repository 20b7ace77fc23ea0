// The import screen both apps share: drop zone / file input, the confirm step (array choice, axes, sampling rate,
// validation report) and the demo generator. Any failure (a refused file, an array too large, a bug) is shown
// in place with its ParseError code; nothing here throws, and a file too large is refused before it is read.

import type { NamedArray } from '../array';
import { ParseError } from '../errors';
import { MAX_FILE_BYTES, mib } from '../limits';
import { parseFile, type ParsedFile } from '../parse';
import { toMatrix, validateMatrix } from '../traces';
import type { Dataset } from '../dataset';
import { demoConfig, REALISM, type Realism } from '../demo';
import { fmt } from '../format';
import { h } from './dom';
import type { Calab } from '../wasm';

const FS_PRESETS = [7.5, 10, 15, 20, 30, 60];
export interface ImportOptions {
  /** Text of the button that accepts a file (what the app will do with it). */
  confirmLabel?: string;
}

export function renderImport(
  root: HTMLElement,
  calab: Calab,
  onDataset: (d: Dataset) => void,
  opts: ImportOptions = {},
): void {
  const confirmLabel = opts.confirmLabel ?? 'Use these traces';
  root.replaceChildren();
  const errorBox = h('p', { class: 'error', role: 'alert', 'data-testid': 'import-error', hidden: true });
  const confirmBox = h('section', { class: 'card-panel confirm', 'aria-label': 'Confirm import', hidden: true });

  const showError = (msg: string, code = ''): void => {
    errorBox.textContent = msg;
    errorBox.dataset.code = code;
    errorBox.hidden = false;
    confirmBox.hidden = true;
  };
  const refuse = (file: File, e: unknown): void => {
    if (e instanceof ParseError) showError(`Could not read ${file.name} [${e.code}]: ${e.message}`, e.code);
    else showError(`Could not read ${file.name}: ${e instanceof Error ? e.message : String(e)}`, 'ERROR');
  };

  const handleFile = async (file: File): Promise<void> => {
    errorBox.hidden = true;
    try {
      if (file.size > MAX_FILE_BYTES) {
        throw new ParseError(
          'TOO_LARGE',
          `the file is ${mib(file.size)}, more than the ${mib(MAX_FILE_BYTES)} the browser reads, so it was not opened. Save fewer cells or a shorter stretch, or use calab in Python for the whole recording.`,
        );
      }
      const parsed: ParsedFile = parseFile(file.name, new Uint8Array(await file.arrayBuffer()));
      renderConfirm(confirmBox, parsed, onDataset, showError, confirmLabel);
    } catch (e) {
      refuse(file, e);
    }
  };

  const fileInput = h('input', {
    type: 'file',
    accept: '.npy,.npz,.mat',
    'data-testid': 'file-input',
    id: 'file-input',
  });
  fileInput.addEventListener('change', () => {
    const f = fileInput.files?.[0];
    if (f) void handleFile(f);
    fileInput.value = '';
  });
  const drop = h(
    'div',
    { class: 'drop', 'data-testid': 'drop-zone' },
    h('p', {}, 'Drop a ', h('b', {}, '.npy'), ', ', h('b', {}, '.npz'), ' or ', h('b', {}, '.mat'), ' file here'),
    h('p', {}, h('label', { for: 'file-input' }, 'or choose a file: '), fileInput),
    h('p', { class: 'muted' }, 'Traces as cells × time. Everything stays in this browser; nothing is uploaded.'),
  );
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files?.[0];
    if (f) void handleFile(f);
  });

  // Demo
  const presetSel = h('select', { id: 'demo-preset', 'data-testid': 'demo-preset' });
  for (const name of calab.preset_names()) presetSel.append(h('option', { value: name, text: name }));
  const realismSel = h('select', { id: 'demo-realism', 'data-testid': 'demo-realism' });
  for (const r of REALISM) realismSel.append(h('option', { value: r, text: r, selected: r === 'typical' }));
  const cellsIn = h('input', { id: 'demo-cells', type: 'number', min: 1, max: 200, value: 12, style: 'width:70px' });
  const durationIn = h('input', {
    id: 'demo-duration',
    'data-testid': 'demo-duration',
    type: 'number',
    min: 10,
    max: 3600,
    value: 120,
    style: 'width:70px',
  });
  const demoBtn = h('button', { type: 'button', class: 'primary', 'data-testid': 'demo-button' }, 'Load demo');
  demoBtn.addEventListener('click', () => {
    try {
      const n = Math.max(1, Math.min(200, Math.round(Number(cellsIn.value) || 12)));
      const dur = Math.max(10, Math.min(3600, Number(durationIn.value) || 120));
      const cfg = demoConfig(calab.preset_json(presetSel.value), realismSel.value as Realism, n, 42, dur);
      const sim = calab.simulate(cfg);
      const fs = Number((JSON.parse(cfg) as { fs?: number }).fs ?? 30);
      const matrix = { numCells: sim.num_cells, numTimepoints: sim.num_timepoints, data: sim.traces() };
      const truth = { calcium: [] as Float32Array[], spikes: [] as Float32Array[] };
      for (let c = 0; c < sim.num_cells; c++) {
        truth.calcium.push(sim.clean_calcium(c));
        truth.spikes.push(sim.spikes(c));
      }
      sim.free();
      onDataset({
        matrix,
        fs,
        sourceFilename: null,
        label: `demo: ${presetSel.value}, ${realismSel.value} (${matrix.numCells} cells × ${matrix.numTimepoints} frames @ ${fs} Hz)`,
        truth,
      });
    } catch (e) {
      showError(`The demo could not be generated: ${e instanceof Error ? e.message : String(e)}`);
    }
  });

  root.append(
    h(
      'div',
      { class: 'import' },
      h('section', { class: 'card-panel', 'aria-label': 'Load data' }, h('h2', {}, 'Load your traces'), drop, errorBox),
      h(
        'section',
        { class: 'card-panel', 'aria-label': 'Demo data' },
        h('h2', {}, 'Or try simulated data'),
        h('div', { class: 'row' }, h('label', { for: 'demo-preset' }, 'Indicator'), presetSel),
        h('div', { class: 'row' }, h('label', { for: 'demo-realism' }, 'Realism'), realismSel),
        h('div', { class: 'row' }, h('label', { for: 'demo-cells' }, 'Cells'), cellsIn),
        h('div', { class: 'row' }, h('label', { for: 'demo-duration' }, 'Duration (s)'), durationIn),
        h('div', { class: 'row' }, demoBtn),
        h('p', { class: 'muted' }, 'Simulated with known spikes, so you can overlay the ground truth while tuning.'),
      ),
      confirmBox,
    ),
  );
}

function pickDefault(arrays: NamedArray[]): number {
  let best = 0;
  arrays.forEach((a, i) => {
    const score = (a.shape.length === 2 ? 1e15 : 0) + a.data.length;
    const bs = (arrays[best].shape.length === 2 ? 1e15 : 0) + arrays[best].data.length;
    if (score > bs) best = i;
  });
  return best;
}

function renderConfirm(
  box: HTMLElement,
  parsed: ParsedFile,
  onDataset: (d: Dataset) => void,
  showError: (m: string, code?: string) => void,
  confirmLabel: string,
): void {
  box.replaceChildren();
  box.hidden = false;
  let chosen = pickDefault(parsed.arrays);
  const arraySel = h('select', { id: 'array-select', 'data-testid': 'array-select' });
  parsed.arrays.forEach((a, i) =>
    arraySel.append(
      h('option', { value: i, selected: i === chosen, text: `${a.name} (${a.shape.join(' × ')}, ${a.dtype})` }),
    ),
  );
  const swap = h('input', { type: 'checkbox', id: 'swap-axes', 'data-testid': 'swap-axes' });
  const fsIn = h('input', {
    type: 'number',
    id: 'fs-input',
    'data-testid': 'fs-input',
    min: 0.1,
    step: 'any',
    value: parsed.fs?.value ?? 30,
    style: 'width:90px',
    'aria-describedby': 'fs-help',
  });
  const presets = h(
    'span',
    { class: 'row' },
    ...FS_PRESETS.map((f) =>
      h(
        'button',
        {
          type: 'button',
          onclick: () => {
            fsIn.value = String(f);
            update();
          },
        },
        `${f} Hz`,
      ),
    ),
  );
  const shapeOut = h('p', { 'data-testid': 'import-shape', 'aria-live': 'polite' });
  const report = h('ul', { class: 'report', 'data-testid': 'import-report' });
  const confirm = h('button', { type: 'button', class: 'primary', 'data-testid': 'import-confirm' }, confirmLabel);
  const unitIn = h('input', {
    type: 'text',
    id: 'unit-input',
    'data-testid': 'unit-input',
    value: 'a.u.',
    list: 'unit-choices',
    style: 'width:90px',
    'aria-describedby': 'unit-help',
  });
  const unitChoices = h(
    'datalist',
    { id: 'unit-choices' },
    ...['a.u.', 'ΔF/F', 'F', 'z-score'].map((u) => h('option', { value: u })),
  );

  const build = () => {
    const arr = parsed.arrays[chosen];
    const matrix = toMatrix(arr, swap.checked && arr.shape.length === 2);
    return { matrix, rep: validateMatrix(matrix) };
  };
  let current = build();
  function update(): void {
    chosen = Number(arraySel.value);
    const arr = parsed.arrays[chosen];
    swap.disabled = arr.shape.length !== 2;
    try {
      current = build();
    } catch (e) {
      showError(
        e instanceof ParseError
          ? `Could not use ${arr.name} [${e.code}]: ${e.message}`
          : `Could not use ${arr.name}: ${String(e)}`,
        e instanceof ParseError ? e.code : 'ERROR',
      );
      return;
    }
    const { matrix, rep } = current;
    shapeOut.textContent =
      `${matrix.numCells} cells × ${matrix.numTimepoints} timepoints` +
      (Number(fsIn.value) > 0 ? ` (${fmt(matrix.numTimepoints / Number(fsIn.value), 1)} s at ${fsIn.value} Hz)` : '');
    report.replaceChildren(
      ...(rep.warnings.length
        ? rep.warnings.map((w) => h('li', { class: 'warn' }, w))
        : [h('li', {}, 'No problems found: all values finite, no constant cells.')]),
    );
    for (const s of parsed.skipped) report.append(h('li', { class: 'muted' }, `Skipped ${s.name}: ${s.reason}`));
    const fsOk = Number(fsIn.value) > 0 && Number.isFinite(Number(fsIn.value));
    fsIn.classList.toggle('invalid', !fsOk);
    confirm.disabled = !fsOk || matrix.numTimepoints < 10;
  }
  arraySel.addEventListener('change', update);
  swap.addEventListener('change', update);
  fsIn.addEventListener('input', update);
  confirm.addEventListener('click', () => {
    const fs = Number(fsIn.value);
    if (!(fs > 0)) {
      showError('The sampling rate must be a positive number of Hz.');
      return;
    }
    onDataset({
      matrix: current.matrix,
      fs,
      unit: unitIn.value.trim() || 'a.u.',
      sourceFilename: parsed.filename,
      label: `${parsed.filename}${parsed.arrays.length > 1 ? `:${parsed.arrays[chosen].name}` : ''} (${current.matrix.numCells} cells × ${current.matrix.numTimepoints} frames @ ${fs} Hz)`,
    });
  });

  box.append(
    h('h2', {}, `Confirm ${parsed.filename}`),
    h(
      'div',
      { class: 'row', hidden: parsed.arrays.length < 2 },
      h('label', { for: 'array-select' }, 'Array'),
      arraySel,
    ),
    shapeOut,
    h('div', { class: 'row' }, swap, h('label', { for: 'swap-axes' }, 'Swap axes (rows are timepoints)')),
    h('div', { class: 'row' }, h('label', { for: 'fs-input' }, 'Sampling rate (Hz)'), fsIn, presets),
    h(
      'p',
      { class: 'muted', id: 'fs-help', 'data-testid': 'fs-help' },
      parsed.fs
        ? `Read from the file's '${parsed.fs.name}' variable (${parsed.fs.value} Hz); change it if that is wrong. Time constants are in seconds.`
        : 'Frames per second of the recording; time constants are in seconds.',
    ),
    h('div', { class: 'row' }, h('label', { for: 'unit-input' }, 'Unit of the values'), unitIn, unitChoices),
    h(
      'p',
      { class: 'muted', id: 'unit-help' },
      'Shown on the fluorescence and activity axes (for example ΔF/F); the numbers are used as they are.',
    ),
    h('h3', {}, 'Checks'),
    report,
    h('div', { class: 'row' }, confirm),
  );
  update();
}
