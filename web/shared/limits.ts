// Limits every file reader in the browser applies before it allocates or inflates anything, and the names
// of a stored sampling rate. One source for the browser and Python: schemas/trace-files.json.

import traceFiles from '../../schemas/trace-files.json';

/** Most values (cells × timepoints) a recording may have. */
export const MAX_VALUES: number = traceFiles.max_values;
/** Largest file read at all (checked on the File's size, before reading it). */
export const MAX_FILE_BYTES: number = traceFiles.max_file_bytes;
/** Most bytes a container (.npz members, .mat compressed variables) may inflate to, all members together. */
export const MAX_INFLATED_BYTES: number = traceFiles.max_file_bytes;
/** Longest .npy header accepted (numpy writes a few hundred bytes; version 1 cannot exceed 65535). */
export const MAX_NPY_HEADER = 1 << 16;
/** Variable / member names of a stored sampling rate in Hz, first match wins. */
export const FS_NAMES: readonly string[] = traceFiles.fs_variable_names;
/** Largest sampling rate a file may declare (Python refuses or skips larger ones the same way). */
export const MAX_FS_HZ: number = traceFiles.max_sampling_rate_hz;
/** Largest float32; finite values beyond it become infinite in the solver. */
export const F32_MAX = 3.4028234663852886e38;

const MIB = 1024 * 1024;
export const mib = (bytes: number): string => `${(bytes / MIB).toFixed(bytes < 10 * MIB ? 1 : 0)} MiB`;

/** The words for a recording over MAX_VALUES (shared by every parser). */
export function tooManyValues(where: string, what: string, values: number): string {
  return `${where}: ${what} holds ${values >= 1e15 ? values.toExponential(2) : values.toLocaleString('en-US')} values, more than the ${MAX_VALUES.toLocaleString('en-US')} (cells × timepoints) the browser can hold. Load fewer cells or a shorter stretch (e.g. np.save("part.npy", traces[:100])), or use calab in Python for the whole recording.`;
}
