// Types for hostile.mjs (the generator is plain JavaScript so the Node e2e tests can run it as is).
export interface ZipMember {
  name: string;
  method: number;
  data: Uint8Array;
  size: number;
  crc: number;
}
export function npyBytes(dict: string, data?: Uint8Array): Uint8Array;
export function f8Npy(shape: number[], values: number[]): Uint8Array;
export function crc32(data: Uint8Array): number;
export function zipBytes(members: ZipMember[]): Uint8Array;
export function member(name: string, content: Uint8Array, method?: number): ZipMember;
export function zipBomb(declaredSize?: number): Uint8Array;
export function matBytes(name: string, dims: number[], values: number[], fs?: number): Uint8Array;
export function writeHostileFiles(dir: string): Promise<[string, string, RegExp][]>;
export function checkHostileImports(page: unknown, dir: string, goodFile: string): Promise<void>;
export function testHostileImports(openPage: (url: string) => Promise<unknown>, base: string): Promise<void>;
