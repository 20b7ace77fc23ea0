// Writes the screenshots the README shows: docs/<app>-<width>x<height>.png for CaTune and CaDecon at 1280 x 720
// and 1920 x 1080, taken from the built apps (npm run build) on their in-app demo in headless Chromium.
// PNGs are reduced to a 128-colour palette with Pillow (when the venv has it) to keep the repository small.
// Run: node web/e2e/screenshots.mjs
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { repo, serveApp } from './harness.mjs';

const out = path.join(repo, 'docs');
mkdirSync(out, { recursive: true });
const python = process.env.CALAB_PYTHON ?? path.join(repo, '.venv', 'bin', 'python');
const sizes = [
  [1280, 720],
  [1920, 1080],
];

async function catune(page, width) {
  await page.fill('#demo-cells', '30');
  await page.fill('[data-testid="demo-duration"]', '180');
  await page.click('[data-testid="demo-button"]');
  await page.waitForFunction(
    () => {
      const c = [...document.querySelectorAll('[data-testid="cell-card"]')];
      return c.length && c.every((x) => x.dataset.status === 'fresh');
    },
    null,
    { timeout: 60_000 },
  );
  if (width > 1280) {
    await page.selectOption('[data-testid="columns-select"]', '3');
    await page.click('[data-testid="cell-card"] >> nth=0 >> [data-testid="inspect-button"]');
    await page.waitForSelector('[data-testid="cell-card"] >> nth=0 >> [data-testid="spectrum-panel"][data-cell]');
  }
}

async function cadecon(page) {
  await page.fill('#demo-cells', '30');
  await page.click('[data-testid="demo-button"]');
  await page.click('[data-testid="run-start"]');
  await page.waitForSelector('[data-testid="run-status"][data-state="complete"]', { timeout: 600_000 });
}

for (const app of ['catune', 'cadecon']) {
  const h = await serveApp(app);
  for (const [width, height] of sizes) {
    const { page, context, check } = await h.openPage(`${h.base}?workers=2`);
    await page.setViewportSize({ width, height });
    await page.emulateMedia({ colorScheme: 'light' });
    await (app === 'catune' ? catune(page, width) : cadecon(page));
    await page.mouse.move(0, 0);
    await page.waitForTimeout(800);
    const file = path.join(out, `${app}-${width}x${height}.png`);
    await page.screenshot({ path: file });
    check();
    await context.close();
    if (existsSync(python)) {
      const r = spawnSync(
        python,
        [
          '-c',
          'import sys; from PIL import Image; im = Image.open(sys.argv[1]).convert("RGB"); im.quantize(128, method=Image.Quantize.MEDIANCUT).save(sys.argv[1], optimize=True)',
          file,
        ],
        { stdio: 'inherit' },
      );
      if (r.status !== 0) console.warn(`could not reduce ${file}; kept as is`);
    }
    console.log(`wrote ${path.relative(repo, file)}`);
  }
  await h.close();
}
