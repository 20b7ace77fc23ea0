/* tslint:disable */
/* eslint-disable */

/**
 * Convar result for one trace (see `convar_solve`).
 */
export class ConvarSolution {
    private constructor();
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Modelled calcium without baseline (calcium + baseline fits the trace).
     */
    calcium(): Float32Array;
    /**
     * Rates r: index 0 is the initial calcium, the rest the per-frame calcium rise (>= 0).
     */
    rates(): Float32Array;
    readonly baseline: number;
    readonly converged: boolean;
    readonly iterations: number;
    /**
     * The penalty used (the search's choice when one ran).
     */
    readonly lambda: number;
    readonly objective: number;
}

/**
 * One-shot deconvolution with the same options as the Python `run_deconvolution_full`.
 * The arrays come back through getters (each call copies).
 */
export class DeconvResult {
    private constructor();
    free(): void;
    [Symbol.dispose](): void;
    readonly activity: Float32Array;
    readonly reconvolution: Float32Array;
    baseline: number;
    converged: boolean;
    iterations: number;
}

/**
 * One InDeCa run over a recording (see `crate::indeca::run`): construct, `step` until
 * `is_converged` (or max_iterations), then `final_pass` over the cells, then `result_json`.
 */
export class IndecaRun {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Takes back a final-cell record.
     */
    accept_final_cell(record: Float64Array | number[]): void;
    /**
     * Takes back a solution record of the iteration in progress.
     */
    accept_segment(solution: Float64Array | number[]): void;
    /**
     * Final-pass spike counts, row-major n_cells x n_time at the original rate.
     */
    activity(): Float32Array;
    cell_fit(i: number): Float32Array;
    cell_trace(i: number): Float32Array;
    final_pass(cell_start: number, cell_end: number): void;
    /**
     * Fixes the final kernel; returns [tau_rise, tau_decay] (s).
     */
    freeze_final_kernel(): Float64Array;
    is_converged(): boolean;
    /**
     * Converged or at max_iterations (further steps are refused).
     */
    is_done(): boolean;
    iteration(): number;
    /**
     * `traces`: row-major n_cells x n_time; `config_json`: a (possibly partial) IndecaConfig.
     */
    constructor(traces: Float32Array | number[], n_cells: number, n_time: number, fs: number, config_json: string);
    /**
     * Records that final-pass cell `cell` failed in another worker; the results carry the error.
     */
    reject_final_cell(cell: number, code: string, message: string): void;
    /**
     * Records that segment `job` failed in another worker (with that error's code and message).
     */
    reject_segment(job: number, code: string, message: string): void;
    result_json(): string;
    /**
     * The open segment tasks of the iteration in progress (starting one if needed), as
     * concatenated f64 records, each led by its word count. Empty once all are solved.
     */
    segment_tasks(): Float64Array;
    /**
     * Solves one cell of the final pass with the given kernel; returns the final-cell record.
     */
    solve_final_cell(cell: number, tau_rise: number, tau_decay: number): Float64Array;
    /**
     * Solves one segment task record; returns the solution record.
     */
    solve_segment(task: Float64Array | number[]): Float64Array;
    /**
     * One outer iteration; returns the IterationReport JSON.
     */
    step(): string;
    /**
     * Up to `max_units` work units of the current iteration (segment solves, subset kernels);
     * the IterationReport JSON once the iteration is complete, `undefined` before.
     */
    step_partial(max_units: number): string | undefined;
    /**
     * [units done, units in all] of the iteration in progress; [0, 0] between iterations.
     */
    step_units(): Uint32Array;
}

/**
 * Exact L0 spike inference result for one trace (see `l0_solve`).
 */
export class L0Solution {
    private constructor();
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Fitted calcium.
     */
    calcium(): Float32Array;
    /**
     * Spike sizes at spike times, zero elsewhere.
     */
    spikes(): Float32Array;
    /**
     * Attained objective 1/2 ||y - c||^2 + lambda * num_spikes.
     */
    readonly cost: number;
    readonly num_spikes: number;
}

/**
 * A simulated recording: traces row-major (cells x frames) and per-cell ground truth.
 */
export class Simulation {
    private constructor();
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Noise-free calcium of one cell.
     */
    clean_calcium(cell: number): Float32Array;
    /**
     * The effective config as JSON.
     */
    config_json(): string;
    /**
     * Ground-truth spike counts per frame of one cell (empty past the last cell).
     */
    spikes(cell: number): Float32Array;
    /**
     * All traces, row-major.
     */
    traces(): Float32Array;
    readonly num_cells: number;
    readonly num_timepoints: number;
}

/**
 * The stateful solver one worker drives for one cell at a time.
 */
export class Solver {
    free(): void;
    [Symbol.dispose](): void;
    apply_filter(): boolean;
    converged(): boolean;
    export_state(): Float64Array;
    filter_enabled(): boolean;
    get_baseline(): number;
    /**
     * [f_hp, f_lp] in Hz.
     */
    get_filter_cutoffs(): Float64Array;
    get_power_spectrum(): Float32Array;
    get_reconvolution(): Float32Array;
    get_reconvolution_with_baseline(): Float32Array;
    /**
     * The activity on frame centres (what `deconvolve_trace` and Python report).
     */
    get_solution(): Float32Array;
    get_spectrum_frequencies(): Float32Array;
    /**
     * The trace being fitted (after drift removal / filtering when enabled).
     */
    get_trace(): Float32Array;
    iteration_count(): number;
    load_state(state: Float64Array | number[]): void;
    constructor();
    objective(): number;
    reset_momentum(): void;
    /**
     * "nonneg" or "box01".
     */
    set_constraint(constraint: string): void;
    /**
     * "fft" or "banded".
     */
    set_conv_mode(mode: string): void;
    set_drift_removal(enabled: boolean): void;
    set_filter_enabled(enabled: boolean): void;
    /**
     * Hold the baseline at `baseline` in `solve` (exact method only); NaN fits it jointly again.
     */
    set_fixed_baseline(baseline: number): void;
    set_params(tau_rise: number, tau_decay: number, lambda: number, fs: number): void;
    set_trace(trace: Float32Array | number[]): void;
    /**
     * Solve to the optimum: the exact method for `nonneg`, FISTA (up to `max_iters`) for `box01`.
     * This is what the native `run_deconvolution(method="auto")` runs.
     */
    solve(max_iters: number): boolean;
    /**
     * Run up to `n_steps` FISTA iterations; true once converged.
     */
    step_batch(n_steps: number): boolean;
}

/**
 * Test hook: panics on purpose. The wasm build aborts on panic (`-Zbuild-std=std,panic_abort`),
 * so no `catch_unwind` here could catch it: it reaches JavaScript as a `WebAssembly.RuntimeError`
 * (a trap), which the workers report as code `INTERNAL` (`web/shared/solvererror.ts`). The tests
 * use this to prove that path.
 */
export function __test_panic(): void;

export function build_kernel(tau_rise: number, tau_decay: number, fs: number): Float32Array;

/**
 * max(1, round(target_fs / fs)).
 */
export function compute_upsample_factor(fs: number, target_fs: number): number;

/**
 * Convar population-rate inference of one trace with AR(1) decay `gamma`. A negative or NaN
 * `lambda` chooses it by the odd/even search over the default grid; `max_iters` caps each solve.
 */
export function convar_solve(trace: Float32Array | number[], gamma: number, lambda: number, max_iters: number): ConvarSolution;

export function deconvolve_trace(trace: Float32Array | number[], tau_rise: number, tau_decay: number, lambda: number, fs: number, max_iters: number, conv_mode: string, constraint: string, method: string, filter_enabled: boolean, remove_drift: boolean): DeconvResult;

/**
 * Every error code the module can throw.
 */
export function error_codes(): string[];

/**
 * Kinetics learned from a cells x time recording (row-major), as the JSON of
 * `KineticsEstimate` (`tau_rise`, `tau_decay`, `fit_quality`, `warnings`, ...). Runs the InDeCa
 * loop: call it from a worker.
 */
export function estimate_kinetics(traces: Float32Array | number[], n_cells: number, n_time: number, fs: number, config_json: string): string;

/**
 * Noise standard deviation of one trace (trace units), from the upper half of its spectrum.
 */
export function estimate_noise(trace: Float32Array | number[]): number;

/**
 * [f_hp, f_lp] in Hz.
 */
export function filter_cutoffs(tau_rise: number, tau_decay: number, fs: number): Float64Array;

/**
 * The default IndecaConfig as JSON.
 */
export function indeca_default_config_json(): string;

/**
 * Free-form non-negative kernel from traces and spike trains (see `crate::indeca::kernel_est`).
 */
export function indeca_estimate_kernel(traces_flat: Float32Array | number[], spikes_flat: Float32Array | number[], trace_lengths: Uint32Array | number[], alphas: Float64Array | number[], baselines: Float64Array | number[], kernel_length: number, max_iters: number, tol: number, smooth_lambda: number, warm_kernel?: Float32Array | number[] | null): Float32Array;

/**
 * Bi-exponential fit of a free-form kernel, as BiexpFit JSON.
 */
export function indeca_fit_biexponential(h_free: Float32Array | number[], fs: number, refine: boolean, skip: number): string;

/**
 * One InDeCa trace solve; returns `{s_counts: Float32Array, alpha, baseline, pve, threshold,
 * iterations, converged}`.
 */
export function indeca_solve_trace(trace: Float32Array | number[], tau_rise: number, tau_decay: number, fs: number, upsample_factor: number, max_iters: number, tol: number, hp_enabled: boolean, lp_enabled: boolean, lambda: number, warm_counts?: Float32Array | number[] | null): object;

/**
 * [peak_time_s, fwhm_s]
 */
export function kernel_shape(tau_rise: number, tau_decay: number, fs: number): Float64Array;

/**
 * AR(1) coefficient exp(-1 / (tau_decay fs)).
 */
export function l0_gamma_from_tau(tau_decay: number, fs: number): number;

/**
 * Exact L0-penalised AR(1) deconvolution of one trace (`positive`: spikes only raise calcium).
 */
export function l0_solve(trace: Float32Array | number[], gamma: number, lambda: number, positive: boolean): L0Solution;

/**
 * The trace the L1 solver fits (`crate::solve::fitted_trace`): checked, then drift-removed and
 * band-passed as asked, with the kernel's cutoffs and window. The same preprocessing as the
 * stateful `Solver` and `deconvolve_trace`, without a solver to hold it.
 */
export function preprocess_trace(trace: Float32Array | number[], tau_rise: number, tau_decay: number, fs: number, remove_drift: boolean, bandpass: boolean): Float32Array;

/**
 * A preset config as JSON (gcamp6f, gcamp6m, gcamp6s, jgcamp8f, ogb1, clean).
 */
export function preset_json(name: string): string;

export function preset_names(): string[];

/**
 * Simulate from a (possibly partial) JSON config; see `schemas/simulation-config.schema.json`.
 */
export function simulate(config_json: string): Simulation;

/**
 * Version of the `calab-solver` crate this module was built from.
 */
export function solver_version(): string;

/**
 * Runs once when the module is instantiated: panics reach `console.error` with a message.
 */
export function start(): void;

/**
 * [g1, g2, d, r, gain, dc_gain]
 */
export function tau_to_ar2(tau_rise: number, tau_decay: number, fs: number): Float64Array;

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
    readonly __test_panic: () => void;
    readonly __wbg_convarsolution_free: (a: number, b: number) => void;
    readonly __wbg_deconvresult_free: (a: number, b: number) => void;
    readonly __wbg_get_deconvresult_baseline: (a: number) => number;
    readonly __wbg_get_deconvresult_converged: (a: number) => number;
    readonly __wbg_get_deconvresult_iterations: (a: number) => number;
    readonly __wbg_indecarun_free: (a: number, b: number) => void;
    readonly __wbg_l0solution_free: (a: number, b: number) => void;
    readonly __wbg_set_deconvresult_baseline: (a: number, b: number) => void;
    readonly __wbg_set_deconvresult_converged: (a: number, b: number) => void;
    readonly __wbg_set_deconvresult_iterations: (a: number, b: number) => void;
    readonly __wbg_simulation_free: (a: number, b: number) => void;
    readonly __wbg_solver_free: (a: number, b: number) => void;
    readonly build_kernel: (a: number, b: number, c: number) => [number, number, number, number];
    readonly compute_upsample_factor: (a: number, b: number) => [number, number, number];
    readonly convar_solve: (a: number, b: number, c: number, d: number, e: number) => [number, number, number];
    readonly convarsolution_baseline: (a: number) => number;
    readonly convarsolution_calcium: (a: number) => [number, number];
    readonly convarsolution_converged: (a: number) => number;
    readonly convarsolution_iterations: (a: number) => number;
    readonly convarsolution_lambda: (a: number) => number;
    readonly convarsolution_objective: (a: number) => number;
    readonly convarsolution_rates: (a: number) => [number, number];
    readonly deconvolve_trace: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number, j: number, k: number, l: number, m: number, n: number, o: number) => [number, number, number];
    readonly deconvresult_activity: (a: number) => [number, number];
    readonly deconvresult_reconvolution: (a: number) => [number, number];
    readonly error_codes: () => [number, number];
    readonly estimate_kinetics: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => [number, number, number, number];
    readonly estimate_noise: (a: number, b: number) => [number, number, number];
    readonly filter_cutoffs: (a: number, b: number, c: number) => [number, number, number, number];
    readonly indeca_default_config_json: () => [number, number, number, number];
    readonly indeca_estimate_kernel: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number, j: number, k: number, l: number, m: number, n: number, o: number, p: number) => [number, number, number, number];
    readonly indeca_fit_biexponential: (a: number, b: number, c: number, d: number, e: number) => [number, number, number, number];
    readonly indeca_solve_trace: (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number, j: number, k: number, l: number, m: number) => [number, number, number];
    readonly indecarun_accept_final_cell: (a: number, b: number, c: number) => [number, number];
    readonly indecarun_accept_segment: (a: number, b: number, c: number) => [number, number];
    readonly indecarun_activity: (a: number) => [number, number];
    readonly indecarun_cell_fit: (a: number, b: number) => [number, number, number, number];
    readonly indecarun_cell_trace: (a: number, b: number) => [number, number, number, number];
    readonly indecarun_final_pass: (a: number, b: number, c: number) => [number, number];
    readonly indecarun_freeze_final_kernel: (a: number) => [number, number, number, number];
    readonly indecarun_is_converged: (a: number) => number;
    readonly indecarun_is_done: (a: number) => number;
    readonly indecarun_iteration: (a: number) => number;
    readonly indecarun_new: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => [number, number, number];
    readonly indecarun_reject_final_cell: (a: number, b: number, c: number, d: number, e: number, f: number) => [number, number];
    readonly indecarun_reject_segment: (a: number, b: number, c: number, d: number, e: number, f: number) => [number, number];
    readonly indecarun_result_json: (a: number) => [number, number, number, number];
    readonly indecarun_segment_tasks: (a: number) => [number, number, number, number];
    readonly indecarun_solve_final_cell: (a: number, b: number, c: number, d: number) => [number, number, number, number];
    readonly indecarun_solve_segment: (a: number, b: number, c: number) => [number, number, number, number];
    readonly indecarun_step: (a: number) => [number, number, number, number];
    readonly indecarun_step_partial: (a: number, b: number) => [number, number, number, number];
    readonly indecarun_step_units: (a: number) => [number, number];
    readonly kernel_shape: (a: number, b: number, c: number) => [number, number, number, number];
    readonly l0_gamma_from_tau: (a: number, b: number) => [number, number, number];
    readonly l0_solve: (a: number, b: number, c: number, d: number, e: number) => [number, number, number];
    readonly l0solution_calcium: (a: number) => [number, number];
    readonly l0solution_cost: (a: number) => number;
    readonly l0solution_num_spikes: (a: number) => number;
    readonly l0solution_spikes: (a: number) => [number, number];
    readonly preprocess_trace: (a: number, b: number, c: number, d: number, e: number, f: number, g: number) => [number, number, number, number];
    readonly preset_json: (a: number, b: number) => [number, number, number, number];
    readonly preset_names: () => [number, number];
    readonly simulate: (a: number, b: number) => [number, number, number];
    readonly simulation_clean_calcium: (a: number, b: number) => [number, number];
    readonly simulation_config_json: (a: number) => [number, number, number, number];
    readonly simulation_num_cells: (a: number) => number;
    readonly simulation_num_timepoints: (a: number) => number;
    readonly simulation_spikes: (a: number, b: number) => [number, number];
    readonly simulation_traces: (a: number) => [number, number];
    readonly solver_apply_filter: (a: number) => [number, number, number];
    readonly solver_converged: (a: number) => number;
    readonly solver_export_state: (a: number) => [number, number];
    readonly solver_filter_enabled: (a: number) => number;
    readonly solver_get_baseline: (a: number) => number;
    readonly solver_get_filter_cutoffs: (a: number) => [number, number];
    readonly solver_get_power_spectrum: (a: number) => [number, number];
    readonly solver_get_reconvolution: (a: number) => [number, number];
    readonly solver_get_reconvolution_with_baseline: (a: number) => [number, number];
    readonly solver_get_solution: (a: number) => [number, number];
    readonly solver_get_spectrum_frequencies: (a: number) => [number, number];
    readonly solver_get_trace: (a: number) => [number, number];
    readonly solver_iteration_count: (a: number) => number;
    readonly solver_load_state: (a: number, b: number, c: number) => [number, number];
    readonly solver_new: () => number;
    readonly solver_objective: (a: number) => number;
    readonly solver_reset_momentum: (a: number) => void;
    readonly solver_set_constraint: (a: number, b: number, c: number) => [number, number];
    readonly solver_set_conv_mode: (a: number, b: number, c: number) => [number, number];
    readonly solver_set_drift_removal: (a: number, b: number) => [number, number];
    readonly solver_set_filter_enabled: (a: number, b: number) => [number, number];
    readonly solver_set_fixed_baseline: (a: number, b: number) => [number, number];
    readonly solver_set_params: (a: number, b: number, c: number, d: number, e: number) => [number, number];
    readonly solver_set_trace: (a: number, b: number, c: number) => [number, number];
    readonly solver_solve: (a: number, b: number) => [number, number, number];
    readonly solver_step_batch: (a: number, b: number) => [number, number, number];
    readonly solver_version: () => [number, number];
    readonly start: () => void;
    readonly tau_to_ar2: (a: number, b: number, c: number) => [number, number, number, number];
    readonly __wbindgen_free: (a: number, b: number, c: number) => void;
    readonly __wbindgen_exn_store: (a: number) => void;
    readonly __wbindgen_malloc: (a: number, b: number) => number;
    readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
    readonly __wbindgen_start: () => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;
