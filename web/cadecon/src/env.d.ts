declare module '*?url' {
  const url: string;
  export default url;
}
declare const __APP_VERSION__: string;
declare module '*.css';
interface ImportMeta {
  /** Vite's build-time glob import (an empty record when nothing matches). */
  glob<T = unknown>(pattern: string, opts: { eager: true; import: 'default' }): Record<string, T>;
}
