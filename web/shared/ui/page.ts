// Page chrome shared by the apps' entry points: element lookup, the error banner that replaces a blank page
// when something unexpected throws, the top bar's status line, and the light/dark theme (the system
// preference until the user picks one, remembered per app).
import type { Theme } from './charts';

export const $ = <T extends HTMLElement>(sel: string): T => document.querySelector<T>(sel)!;

/** Shows unexpected errors and rejections in `banner`; returns the function that shows a message. */
export function installErrorBanner(banner: HTMLElement): (msg: string) => void {
  const show = (msg: string): void => {
    banner.textContent = msg;
    banner.hidden = false;
  };
  window.addEventListener('error', (e) => show(`Unexpected error: ${e.message}`));
  window.addEventListener('unhandledrejection', (e) =>
    show(`Unexpected error: ${e.reason instanceof Error ? e.reason.message : String(e.reason)}`),
  );
  return show;
}

/** Shows short messages in `el` (the top bar's status line); each stays until replaced or for `ms`. */
export function statusLine(el: HTMLElement, ms = 8000): (text: string) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return (text) => {
    el.textContent = text;
    clearTimeout(timer);
    timer = setTimeout(() => {
      el.textContent = '';
    }, ms);
  };
}

/** Applies the remembered or preferred theme and wires `toggle`; returns a getter for the current theme. */
export function installTheme(storageKey: string, toggle: HTMLElement, onChange: () => void): () => Theme {
  let theme: Theme =
    (localStorage.getItem(storageKey) as Theme | null) ??
    (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
  document.documentElement.dataset.theme = theme;
  toggle.addEventListener('click', () => {
    theme = theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(storageKey, theme);
    onChange();
  });
  return () => theme;
}

/** Saves `blob` as `filename` through the browser's download prompt. */
export function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  // Revoked later: some browsers start reading the URL only after the click handler returns.
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
