// The overview strip of a card: the whole recording, min/max-decimated to one column per pixel on a
// plain canvas (cheap to redraw), the whole-trace fit once the background solve has it, and a box for the
// window the card shows. Click or drag to move the window; arrow keys step it by half its width.

import { palette, type Theme } from '../../shared/ui/charts';
import { h } from '../../shared/ui/dom';
import type { Range } from './window';

export interface OverviewOptions {
  raw: Float32Array;
  fs: number;
  theme: Theme;
  height?: number;
  label: string;
  /** Centre the window on this time (seconds). */
  onPan(t: number): void;
  /** Step the window by this many widths (keyboard). */
  onStep(dir: number): void;
}

/** Per-column [min, max] of y over `width` columns. */
function columns(y: Float32Array, width: number): Float32Array {
  const out = new Float32Array(2 * width);
  const n = y.length;
  for (let c = 0; c < width; c++) {
    const lo = Math.floor((c * n) / width);
    const hi = Math.max(lo + 1, Math.floor(((c + 1) * n) / width));
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = lo; i < hi && i < n; i++) {
      const v = y[i];
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    out[2 * c] = mn;
    out[2 * c + 1] = mx;
  }
  return out;
}

export class Overview {
  readonly el: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly box: HTMLElement;
  private readonly solvedBand: HTMLElement;
  private width = 0;
  private rawCols: Float32Array | null = null;
  private fit: Float32Array | null = null;
  private fitCols: Float32Array | null = null;
  private readonly height: number;
  private readonly yRange: [number, number];
  private view: Range = [0, 0];

  constructor(private readonly o: OverviewOptions) {
    this.height = o.height ?? 26;
    let mn = Infinity;
    let mx = -Infinity;
    for (const v of o.raw) {
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    this.yRange = [mn, mx > mn ? mx : mn + 1];
    this.canvas = h('canvas', { class: 'overview-canvas', height: this.height });
    this.box = h('div', { class: 'overview-box', 'data-testid': 'overview-window' });
    this.solvedBand = h('div', { class: 'overview-solved' });
    this.el = h(
      'div',
      {
        class: 'overview',
        'data-testid': 'overview',
        tabindex: 0,
        role: 'slider',
        'aria-label': `${o.label}: whole recording; click or drag to move the window, arrow keys to step it`,
      },
      this.canvas,
      this.solvedBand,
      this.box,
    );
    this.el.style.height = `${this.height}px`;
    const at = (ev: PointerEvent) => {
      const r = this.canvas.getBoundingClientRect();
      const f = Math.min(1, Math.max(0, (ev.clientX - r.left) / Math.max(1, r.width)));
      this.o.onPan(f * this.duration);
    };
    this.el.addEventListener('pointerdown', (ev) => {
      this.el.setPointerCapture(ev.pointerId);
      at(ev);
    });
    this.el.addEventListener('pointermove', (ev) => {
      if (this.el.hasPointerCapture(ev.pointerId)) at(ev);
    });
    this.el.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
        ev.preventDefault();
        this.o.onStep(ev.key === 'ArrowLeft' ? -0.5 : 0.5);
      }
    });
  }

  private get duration(): number {
    return (this.o.raw.length - 1) / this.o.fs;
  }

  resize(width: number): void {
    width = Math.max(50, Math.floor(width));
    if (width === this.width) return;
    this.width = width;
    this.rawCols = columns(this.o.raw, width);
    this.fitCols = this.fit ? columns(this.fit, width) : null;
    this.draw();
    this.placeBox();
  }

  /** The whole-trace fit (null: none for the current parameters). */
  setFit(fit: Float32Array | null): void {
    if (fit === this.fit) return;
    this.fit = fit;
    this.fitCols = fit && this.width ? columns(fit, this.width) : null;
    this.draw();
  }

  setView(view: Range, solved: Range | null): void {
    this.view = view;
    this.placeBox();
    const n = this.o.raw.length;
    if (solved && !(solved[0] === 0 && solved[1] === n)) {
      this.solvedBand.hidden = false;
      this.solvedBand.style.left = `${(100 * solved[0]) / n}%`;
      this.solvedBand.style.width = `${(100 * (solved[1] - solved[0])) / n}%`;
    } else this.solvedBand.hidden = true;
    this.el.setAttribute(
      'aria-valuetext',
      `${view[0].toFixed(1)} to ${view[1].toFixed(1)} s of ${this.duration.toFixed(0)} s`,
    );
  }

  private placeBox(): void {
    const d = this.duration || 1;
    this.box.style.left = `${(100 * this.view[0]) / d}%`;
    this.box.style.width = `${Math.max(0.5, (100 * (this.view[1] - this.view[0])) / d)}%`;
  }

  private draw(): void {
    if (!this.width || !this.rawCols) return;
    const dpr = globalThis.devicePixelRatio || 1;
    const c = this.canvas;
    c.width = Math.round(this.width * dpr);
    c.height = Math.round(this.height * dpr);
    c.style.width = `${this.width}px`;
    c.style.height = `${this.height}px`;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    const [lo, hi] = this.yRange;
    const y = (v: number) => this.height - 2 - ((v - lo) / (hi - lo)) * (this.height - 4);
    const pal = palette(this.o.theme);
    const strokeCols = (cols: Float32Array, color: string) => {
      ctx.strokeStyle = color;
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let i = 0; i < this.width; i++) {
        ctx.moveTo(i + 0.5, y(cols[2 * i]));
        ctx.lineTo(i + 0.5, Math.min(y(cols[2 * i + 1]), y(cols[2 * i]) - 0.5));
      }
      ctx.stroke();
    };
    strokeCols(this.rawCols, pal.raw);
    if (this.fitCols) strokeCols(this.fitCols, pal.fit);
    this.el.dataset.fit = this.fitCols ? 'whole' : 'none';
  }
}
