/* @ts-self-types="./calab_solver.d.ts" */

/**
 * Convar result for one trace (see `convar_solve`).
 */
export class ConvarSolution {
    static __wrap(ptr) {
        const obj = Object.create(ConvarSolution.prototype);
        obj.__wbg_ptr = ptr;
        ConvarSolutionFinalization.register(obj, obj.__wbg_ptr, obj);
        return obj;
    }
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        ConvarSolutionFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_convarsolution_free(ptr, 0);
    }
    /**
     * @returns {number}
     */
    get baseline() {
        const ret = wasm.convarsolution_baseline(this.__wbg_ptr);
        return ret;
    }
    /**
     * Modelled calcium without baseline (calcium + baseline fits the trace).
     * @returns {Float32Array}
     */
    calcium() {
        const ret = wasm.convarsolution_calcium(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * @returns {boolean}
     */
    get converged() {
        const ret = wasm.convarsolution_converged(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * @returns {number}
     */
    get iterations() {
        const ret = wasm.convarsolution_iterations(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * The penalty used (the search's choice when one ran).
     * @returns {number}
     */
    get lambda() {
        const ret = wasm.convarsolution_lambda(this.__wbg_ptr);
        return ret;
    }
    /**
     * @returns {number}
     */
    get objective() {
        const ret = wasm.convarsolution_objective(this.__wbg_ptr);
        return ret;
    }
    /**
     * Rates r: index 0 is the initial calcium, the rest the per-frame calcium rise (>= 0).
     * @returns {Float32Array}
     */
    rates() {
        const ret = wasm.convarsolution_rates(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
}
if (Symbol.dispose) ConvarSolution.prototype[Symbol.dispose] = ConvarSolution.prototype.free;

/**
 * One-shot deconvolution with the same options as the Python `run_deconvolution_full`.
 * The arrays come back through getters (each call copies).
 */
export class DeconvResult {
    static __wrap(ptr) {
        const obj = Object.create(DeconvResult.prototype);
        obj.__wbg_ptr = ptr;
        DeconvResultFinalization.register(obj, obj.__wbg_ptr, obj);
        return obj;
    }
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        DeconvResultFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_deconvresult_free(ptr, 0);
    }
    /**
     * @returns {Float32Array}
     */
    get activity() {
        const ret = wasm.deconvresult_activity(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * @returns {Float32Array}
     */
    get reconvolution() {
        const ret = wasm.deconvresult_reconvolution(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * @returns {number}
     */
    get baseline() {
        const ret = wasm.__wbg_get_deconvresult_baseline(this.__wbg_ptr);
        return ret;
    }
    /**
     * @returns {boolean}
     */
    get converged() {
        const ret = wasm.__wbg_get_deconvresult_converged(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * @returns {number}
     */
    get iterations() {
        const ret = wasm.__wbg_get_deconvresult_iterations(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * @param {number} arg0
     */
    set baseline(arg0) {
        wasm.__wbg_set_deconvresult_baseline(this.__wbg_ptr, arg0);
    }
    /**
     * @param {boolean} arg0
     */
    set converged(arg0) {
        wasm.__wbg_set_deconvresult_converged(this.__wbg_ptr, arg0);
    }
    /**
     * @param {number} arg0
     */
    set iterations(arg0) {
        wasm.__wbg_set_deconvresult_iterations(this.__wbg_ptr, arg0);
    }
}
if (Symbol.dispose) DeconvResult.prototype[Symbol.dispose] = DeconvResult.prototype.free;

/**
 * One InDeCa run over a recording (see `crate::indeca::run`): construct, `step` until
 * `is_converged` (or max_iterations), then `final_pass` over the cells, then `result_json`.
 */
export class IndecaRun {
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        IndecaRunFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_indecarun_free(ptr, 0);
    }
    /**
     * Takes back a final-cell record.
     * @param {Float64Array | number[]} record
     */
    accept_final_cell(record) {
        const ptr0 = passArrayF64ToWasm0(record, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.indecarun_accept_final_cell(this.__wbg_ptr, ptr0, len0);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * Takes back a solution record of the iteration in progress.
     * @param {Float64Array | number[]} solution
     */
    accept_segment(solution) {
        const ptr0 = passArrayF64ToWasm0(solution, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.indecarun_accept_segment(this.__wbg_ptr, ptr0, len0);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * Final-pass spike counts, row-major n_cells x n_time at the original rate.
     * @returns {Float32Array}
     */
    activity() {
        const ret = wasm.indecarun_activity(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * @param {number} i
     * @returns {Float32Array}
     */
    cell_fit(i) {
        const ret = wasm.indecarun_cell_fit(this.__wbg_ptr, i);
        if (ret[3]) {
            throw takeObject(ret[2]);
        }
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * @param {number} i
     * @returns {Float32Array}
     */
    cell_trace(i) {
        const ret = wasm.indecarun_cell_trace(this.__wbg_ptr, i);
        if (ret[3]) {
            throw takeObject(ret[2]);
        }
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * @param {number} cell_start
     * @param {number} cell_end
     */
    final_pass(cell_start, cell_end) {
        const ret = wasm.indecarun_final_pass(this.__wbg_ptr, cell_start, cell_end);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * Fixes the final kernel; returns [tau_rise, tau_decay] (s).
     * @returns {Float64Array}
     */
    freeze_final_kernel() {
        const ret = wasm.indecarun_freeze_final_kernel(this.__wbg_ptr);
        if (ret[3]) {
            throw takeObject(ret[2]);
        }
        var v1 = getArrayF64FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 8, 8);
        return v1;
    }
    /**
     * @returns {boolean}
     */
    is_converged() {
        const ret = wasm.indecarun_is_converged(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * Converged or at max_iterations (further steps are refused).
     * @returns {boolean}
     */
    is_done() {
        const ret = wasm.indecarun_is_done(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * @returns {number}
     */
    iteration() {
        const ret = wasm.indecarun_iteration(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * `traces`: row-major n_cells x n_time; `config_json`: a (possibly partial) IndecaConfig.
     * @param {Float32Array | number[]} traces
     * @param {number} n_cells
     * @param {number} n_time
     * @param {number} fs
     * @param {string} config_json
     */
    constructor(traces, n_cells, n_time, fs, config_json) {
        const val3 = +n_cells;
        const val4 = +n_time;
        const val5 = +fs;
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passArrayF32ToWasm0(traces, wasm.__wbindgen_malloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passStringToWasm0(config_json, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 4, 4); }
            throw e;
        }
        const ret = wasm.indecarun_new(ptr0, len0, val3, val4, val5, ptr1, len1);
        if (ret[2]) {
            throw takeObject(ret[1]);
        }
        this.__wbg_ptr = ret[0];
        IndecaRunFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * Records that final-pass cell `cell` failed in another worker; the results carry the error.
     * @param {number} cell
     * @param {string} code
     * @param {string} message
     */
    reject_final_cell(cell, code, message) {
        const val3 = +cell;
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passStringToWasm0(code, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passStringToWasm0(message, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.indecarun_reject_final_cell(this.__wbg_ptr, val3, ptr0, len0, ptr1, len1);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * Records that segment `job` failed in another worker (with that error's code and message).
     * @param {number} job
     * @param {string} code
     * @param {string} message
     */
    reject_segment(job, code, message) {
        const val3 = +job;
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passStringToWasm0(code, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passStringToWasm0(message, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
            throw e;
        }
        const ret = wasm.indecarun_reject_segment(this.__wbg_ptr, val3, ptr0, len0, ptr1, len1);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * @returns {string}
     */
    result_json() {
        let deferred2_0;
        let deferred2_1;
        try {
            const ret = wasm.indecarun_result_json(this.__wbg_ptr);
            var ptr1 = ret[0];
            var len1 = ret[1];
            if (ret[3]) {
                ptr1 = 0; len1 = 0;
                throw takeObject(ret[2]);
            }
            deferred2_0 = ptr1;
            deferred2_1 = len1;
            return getStringFromWasm0(ptr1, len1);
        } finally {
            wasm.__wbindgen_free(deferred2_0, deferred2_1, 1);
        }
    }
    /**
     * The open segment tasks of the iteration in progress (starting one if needed), as
     * concatenated f64 records, each led by its word count. Empty once all are solved.
     * @returns {Float64Array}
     */
    segment_tasks() {
        const ret = wasm.indecarun_segment_tasks(this.__wbg_ptr);
        if (ret[3]) {
            throw takeObject(ret[2]);
        }
        var v1 = getArrayF64FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 8, 8);
        return v1;
    }
    /**
     * Solves one cell of the final pass with the given kernel; returns the final-cell record.
     * @param {number} cell
     * @param {number} tau_rise
     * @param {number} tau_decay
     * @returns {Float64Array}
     */
    solve_final_cell(cell, tau_rise, tau_decay) {
        const ret = wasm.indecarun_solve_final_cell(this.__wbg_ptr, cell, tau_rise, tau_decay);
        if (ret[3]) {
            throw takeObject(ret[2]);
        }
        var v1 = getArrayF64FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 8, 8);
        return v1;
    }
    /**
     * Solves one segment task record; returns the solution record.
     * @param {Float64Array | number[]} task
     * @returns {Float64Array}
     */
    solve_segment(task) {
        const ptr0 = passArrayF64ToWasm0(task, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.indecarun_solve_segment(this.__wbg_ptr, ptr0, len0);
        if (ret[3]) {
            throw takeObject(ret[2]);
        }
        var v2 = getArrayF64FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 8, 8);
        return v2;
    }
    /**
     * One outer iteration; returns the IterationReport JSON.
     * @returns {string}
     */
    step() {
        let deferred2_0;
        let deferred2_1;
        try {
            const ret = wasm.indecarun_step(this.__wbg_ptr);
            var ptr1 = ret[0];
            var len1 = ret[1];
            if (ret[3]) {
                ptr1 = 0; len1 = 0;
                throw takeObject(ret[2]);
            }
            deferred2_0 = ptr1;
            deferred2_1 = len1;
            return getStringFromWasm0(ptr1, len1);
        } finally {
            wasm.__wbindgen_free(deferred2_0, deferred2_1, 1);
        }
    }
    /**
     * Up to `max_units` work units of the current iteration (segment solves, subset kernels);
     * the IterationReport JSON once the iteration is complete, `undefined` before.
     * @param {number} max_units
     * @returns {string | undefined}
     */
    step_partial(max_units) {
        const ret = wasm.indecarun_step_partial(this.__wbg_ptr, max_units);
        if (ret[3]) {
            throw takeObject(ret[2]);
        }
        let v1;
        if (ret[0] !== 0) {
            v1 = getStringFromWasm0(ret[0], ret[1]);
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        }
        return v1;
    }
    /**
     * [units done, units in all] of the iteration in progress; [0, 0] between iterations.
     * @returns {Uint32Array}
     */
    step_units() {
        const ret = wasm.indecarun_step_units(this.__wbg_ptr);
        var v1 = getArrayU32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
}
if (Symbol.dispose) IndecaRun.prototype[Symbol.dispose] = IndecaRun.prototype.free;

/**
 * Exact L0 spike inference result for one trace (see `l0_solve`).
 */
export class L0Solution {
    static __wrap(ptr) {
        const obj = Object.create(L0Solution.prototype);
        obj.__wbg_ptr = ptr;
        L0SolutionFinalization.register(obj, obj.__wbg_ptr, obj);
        return obj;
    }
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        L0SolutionFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_l0solution_free(ptr, 0);
    }
    /**
     * Fitted calcium.
     * @returns {Float32Array}
     */
    calcium() {
        const ret = wasm.l0solution_calcium(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * Attained objective 1/2 ||y - c||^2 + lambda * num_spikes.
     * @returns {number}
     */
    get cost() {
        const ret = wasm.l0solution_cost(this.__wbg_ptr);
        return ret;
    }
    /**
     * @returns {number}
     */
    get num_spikes() {
        const ret = wasm.l0solution_num_spikes(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * Spike sizes at spike times, zero elsewhere.
     * @returns {Float32Array}
     */
    spikes() {
        const ret = wasm.l0solution_spikes(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
}
if (Symbol.dispose) L0Solution.prototype[Symbol.dispose] = L0Solution.prototype.free;

/**
 * A simulated recording: traces row-major (cells x frames) and per-cell ground truth.
 */
export class Simulation {
    static __wrap(ptr) {
        const obj = Object.create(Simulation.prototype);
        obj.__wbg_ptr = ptr;
        SimulationFinalization.register(obj, obj.__wbg_ptr, obj);
        return obj;
    }
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        SimulationFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_simulation_free(ptr, 0);
    }
    /**
     * Noise-free calcium of one cell.
     * @param {number} cell
     * @returns {Float32Array}
     */
    clean_calcium(cell) {
        const ret = wasm.simulation_clean_calcium(this.__wbg_ptr, cell);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * The effective config as JSON.
     * @returns {string}
     */
    config_json() {
        let deferred2_0;
        let deferred2_1;
        try {
            const ret = wasm.simulation_config_json(this.__wbg_ptr);
            var ptr1 = ret[0];
            var len1 = ret[1];
            if (ret[3]) {
                ptr1 = 0; len1 = 0;
                throw takeObject(ret[2]);
            }
            deferred2_0 = ptr1;
            deferred2_1 = len1;
            return getStringFromWasm0(ptr1, len1);
        } finally {
            wasm.__wbindgen_free(deferred2_0, deferred2_1, 1);
        }
    }
    /**
     * @returns {number}
     */
    get num_cells() {
        const ret = wasm.simulation_num_cells(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * @returns {number}
     */
    get num_timepoints() {
        const ret = wasm.simulation_num_timepoints(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * Ground-truth spike counts per frame of one cell (empty past the last cell).
     * @param {number} cell
     * @returns {Float32Array}
     */
    spikes(cell) {
        const ret = wasm.simulation_spikes(this.__wbg_ptr, cell);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * All traces, row-major.
     * @returns {Float32Array}
     */
    traces() {
        const ret = wasm.simulation_traces(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
}
if (Symbol.dispose) Simulation.prototype[Symbol.dispose] = Simulation.prototype.free;

/**
 * The stateful solver one worker drives for one cell at a time.
 */
export class Solver {
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        SolverFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_solver_free(ptr, 0);
    }
    /**
     * @returns {boolean}
     */
    apply_filter() {
        const ret = wasm.solver_apply_filter(this.__wbg_ptr);
        if (ret[2]) {
            throw takeObject(ret[1]);
        }
        return ret[0] !== 0;
    }
    /**
     * @returns {boolean}
     */
    converged() {
        const ret = wasm.solver_converged(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * @returns {Float64Array}
     */
    export_state() {
        const ret = wasm.solver_export_state(this.__wbg_ptr);
        var v1 = getArrayF64FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 8, 8);
        return v1;
    }
    /**
     * @returns {boolean}
     */
    filter_enabled() {
        const ret = wasm.solver_filter_enabled(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * @returns {number}
     */
    get_baseline() {
        const ret = wasm.solver_get_baseline(this.__wbg_ptr);
        return ret;
    }
    /**
     * [f_hp, f_lp] in Hz.
     * @returns {Float64Array}
     */
    get_filter_cutoffs() {
        const ret = wasm.solver_get_filter_cutoffs(this.__wbg_ptr);
        var v1 = getArrayF64FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 8, 8);
        return v1;
    }
    /**
     * @returns {Float32Array}
     */
    get_power_spectrum() {
        const ret = wasm.solver_get_power_spectrum(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * @returns {Float32Array}
     */
    get_reconvolution() {
        const ret = wasm.solver_get_reconvolution(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * @returns {Float32Array}
     */
    get_reconvolution_with_baseline() {
        const ret = wasm.solver_get_reconvolution_with_baseline(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * The activity on frame centres (what `deconvolve_trace` and Python report).
     * @returns {Float32Array}
     */
    get_solution() {
        const ret = wasm.solver_get_solution(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * @returns {Float32Array}
     */
    get_spectrum_frequencies() {
        const ret = wasm.solver_get_spectrum_frequencies(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * The trace being fitted (after drift removal / filtering when enabled).
     * @returns {Float32Array}
     */
    get_trace() {
        const ret = wasm.solver_get_trace(this.__wbg_ptr);
        var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
        wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
        return v1;
    }
    /**
     * @returns {number}
     */
    iteration_count() {
        const ret = wasm.solver_iteration_count(this.__wbg_ptr);
        return ret >>> 0;
    }
    /**
     * @param {Float64Array | number[]} state
     */
    load_state(state) {
        const ptr0 = passArrayF64ToWasm0(state, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.solver_load_state(this.__wbg_ptr, ptr0, len0);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    constructor() {
        const ret = wasm.solver_new();
        this.__wbg_ptr = ret;
        SolverFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * @returns {number}
     */
    objective() {
        const ret = wasm.solver_objective(this.__wbg_ptr);
        return ret;
    }
    reset_momentum() {
        wasm.solver_reset_momentum(this.__wbg_ptr);
    }
    /**
     * "nonneg" or "box01".
     * @param {string} constraint
     */
    set_constraint(constraint) {
        const ptr0 = passStringToWasm0(constraint, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.solver_set_constraint(this.__wbg_ptr, ptr0, len0);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * "fft" or "banded".
     * @param {string} mode
     */
    set_conv_mode(mode) {
        const ptr0 = passStringToWasm0(mode, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.solver_set_conv_mode(this.__wbg_ptr, ptr0, len0);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * @param {boolean} enabled
     */
    set_drift_removal(enabled) {
        const ret = wasm.solver_set_drift_removal(this.__wbg_ptr, enabled);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * @param {boolean} enabled
     */
    set_filter_enabled(enabled) {
        const ret = wasm.solver_set_filter_enabled(this.__wbg_ptr, enabled);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * Hold the baseline at `baseline` in `solve` (exact method only); NaN fits it jointly again.
     * @param {number} baseline
     */
    set_fixed_baseline(baseline) {
        const ret = wasm.solver_set_fixed_baseline(this.__wbg_ptr, baseline);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * @param {number} tau_rise
     * @param {number} tau_decay
     * @param {number} lambda
     * @param {number} fs
     */
    set_params(tau_rise, tau_decay, lambda, fs) {
        const ret = wasm.solver_set_params(this.__wbg_ptr, tau_rise, tau_decay, lambda, fs);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * @param {Float32Array | number[]} trace
     */
    set_trace(trace) {
        const ptr0 = passArrayF32ToWasm0(trace, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.solver_set_trace(this.__wbg_ptr, ptr0, len0);
        if (ret[1]) {
            throw takeObject(ret[0]);
        }
    }
    /**
     * Solve to the optimum: the exact method for `nonneg`, FISTA (up to `max_iters`) for `box01`.
     * This is what the native `run_deconvolution(method="auto")` runs.
     * @param {number} max_iters
     * @returns {boolean}
     */
    solve(max_iters) {
        const ret = wasm.solver_solve(this.__wbg_ptr, max_iters);
        if (ret[2]) {
            throw takeObject(ret[1]);
        }
        return ret[0] !== 0;
    }
    /**
     * Run up to `n_steps` FISTA iterations; true once converged.
     * @param {number} n_steps
     * @returns {boolean}
     */
    step_batch(n_steps) {
        const ret = wasm.solver_step_batch(this.__wbg_ptr, n_steps);
        if (ret[2]) {
            throw takeObject(ret[1]);
        }
        return ret[0] !== 0;
    }
}
if (Symbol.dispose) Solver.prototype[Symbol.dispose] = Solver.prototype.free;

/**
 * Test hook: panics on purpose. The wasm build aborts on panic (`-Zbuild-std=std,panic_abort`),
 * so no `catch_unwind` here could catch it: it reaches JavaScript as a `WebAssembly.RuntimeError`
 * (a trap), which the workers report as code `INTERNAL` (`web/shared/solvererror.ts`). The tests
 * use this to prove that path.
 */
export function __test_panic() {
    wasm.__test_panic();
}

/**
 * @param {number} tau_rise
 * @param {number} tau_decay
 * @param {number} fs
 * @returns {Float32Array}
 */
export function build_kernel(tau_rise, tau_decay, fs) {
    const ret = wasm.build_kernel(tau_rise, tau_decay, fs);
    if (ret[3]) {
        throw takeObject(ret[2]);
    }
    var v1 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
    wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
    return v1;
}

/**
 * max(1, round(target_fs / fs)).
 * @param {number} fs
 * @param {number} target_fs
 * @returns {number}
 */
export function compute_upsample_factor(fs, target_fs) {
    const ret = wasm.compute_upsample_factor(fs, target_fs);
    if (ret[2]) {
        throw takeObject(ret[1]);
    }
    return ret[0] >>> 0;
}

/**
 * Convar population-rate inference of one trace with AR(1) decay `gamma`. A negative or NaN
 * `lambda` chooses it by the odd/even search over the default grid; `max_iters` caps each solve.
 * @param {Float32Array | number[]} trace
 * @param {number} gamma
 * @param {number} lambda
 * @param {number} max_iters
 * @returns {ConvarSolution}
 */
export function convar_solve(trace, gamma, lambda, max_iters) {
    const val2 = +gamma;
    const val3 = +lambda;
    const val4 = +max_iters;
    const ptr0 = passArrayF32ToWasm0(trace, wasm.__wbindgen_malloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.convar_solve(ptr0, len0, val2, val3, val4);
    if (ret[2]) {
        throw takeObject(ret[1]);
    }
    return ConvarSolution.__wrap(ret[0]);
}

/**
 * @param {Float32Array | number[]} trace
 * @param {number} tau_rise
 * @param {number} tau_decay
 * @param {number} lambda
 * @param {number} fs
 * @param {number} max_iters
 * @param {string} conv_mode
 * @param {string} constraint
 * @param {string} method
 * @param {boolean} filter_enabled
 * @param {boolean} remove_drift
 * @returns {DeconvResult}
 */
export function deconvolve_trace(trace, tau_rise, tau_decay, lambda, fs, max_iters, conv_mode, constraint, method, filter_enabled, remove_drift) {
    const val5 = +tau_rise;
    const val6 = +tau_decay;
    const val7 = +lambda;
    const val8 = +fs;
    const val9 = +max_iters;
    const val10 = +filter_enabled;
    const val11 = +remove_drift;
    let ptr0, len0, ptr1, len1, ptr2, len2, ptr3, len3;
    try {
        ptr0 = passArrayF32ToWasm0(trace, wasm.__wbindgen_malloc);
        len0 = WASM_VECTOR_LEN;
        ptr1 = passStringToWasm0(conv_mode, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        len1 = WASM_VECTOR_LEN;
        ptr2 = passStringToWasm0(constraint, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        len2 = WASM_VECTOR_LEN;
        ptr3 = passStringToWasm0(method, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        len3 = WASM_VECTOR_LEN;
    } catch (e) {
        if (ptr3) { wasm.__wbindgen_free(ptr3, len3 * 1, 1); }
        if (ptr2) { wasm.__wbindgen_free(ptr2, len2 * 1, 1); }
        if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
        if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 4, 4); }
        throw e;
    }
    const ret = wasm.deconvolve_trace(ptr0, len0, val5, val6, val7, val8, val9, ptr1, len1, ptr2, len2, ptr3, len3, val10, val11);
    if (ret[2]) {
        throw takeObject(ret[1]);
    }
    return DeconvResult.__wrap(ret[0]);
}

/**
 * Every error code the module can throw.
 * @returns {string[]}
 */
export function error_codes() {
    const ret = wasm.error_codes();
    var v1 = getArrayJsValueFromWasm0(ret[0], ret[1]);
    wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
    return v1;
}

/**
 * Kinetics learned from a cells x time recording (row-major), as the JSON of
 * `KineticsEstimate` (`tau_rise`, `tau_decay`, `fit_quality`, `warnings`, ...). Runs the InDeCa
 * loop: call it from a worker.
 * @param {Float32Array | number[]} traces
 * @param {number} n_cells
 * @param {number} n_time
 * @param {number} fs
 * @param {string} config_json
 * @returns {string}
 */
export function estimate_kinetics(traces, n_cells, n_time, fs, config_json) {
    let deferred7_0;
    let deferred7_1;
    try {
        const val3 = +n_cells;
        const val4 = +n_time;
        const val5 = +fs;
        let ptr0, len0, ptr1, len1;
        try {
            ptr0 = passArrayF32ToWasm0(traces, wasm.__wbindgen_malloc);
            len0 = WASM_VECTOR_LEN;
            ptr1 = passStringToWasm0(config_json, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            len1 = WASM_VECTOR_LEN;
        } catch (e) {
            if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
            if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 4, 4); }
            throw e;
        }
        const ret = wasm.estimate_kinetics(ptr0, len0, val3, val4, val5, ptr1, len1);
        var ptr6 = ret[0];
        var len6 = ret[1];
        if (ret[3]) {
            ptr6 = 0; len6 = 0;
            throw takeObject(ret[2]);
        }
        deferred7_0 = ptr6;
        deferred7_1 = len6;
        return getStringFromWasm0(ptr6, len6);
    } finally {
        wasm.__wbindgen_free(deferred7_0, deferred7_1, 1);
    }
}

/**
 * Noise standard deviation of one trace (trace units), from the upper half of its spectrum.
 * @param {Float32Array | number[]} trace
 * @returns {number}
 */
export function estimate_noise(trace) {
    const ptr0 = passArrayF32ToWasm0(trace, wasm.__wbindgen_malloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.estimate_noise(ptr0, len0);
    if (ret[2]) {
        throw takeObject(ret[1]);
    }
    return ret[0];
}

/**
 * [f_hp, f_lp] in Hz.
 * @param {number} tau_rise
 * @param {number} tau_decay
 * @param {number} fs
 * @returns {Float64Array}
 */
export function filter_cutoffs(tau_rise, tau_decay, fs) {
    const ret = wasm.filter_cutoffs(tau_rise, tau_decay, fs);
    if (ret[3]) {
        throw takeObject(ret[2]);
    }
    var v1 = getArrayF64FromWasm0(ret[0], ret[1]).slice();
    wasm.__wbindgen_free(ret[0], ret[1] * 8, 8);
    return v1;
}

/**
 * The default IndecaConfig as JSON.
 * @returns {string}
 */
export function indeca_default_config_json() {
    let deferred2_0;
    let deferred2_1;
    try {
        const ret = wasm.indeca_default_config_json();
        var ptr1 = ret[0];
        var len1 = ret[1];
        if (ret[3]) {
            ptr1 = 0; len1 = 0;
            throw takeObject(ret[2]);
        }
        deferred2_0 = ptr1;
        deferred2_1 = len1;
        return getStringFromWasm0(ptr1, len1);
    } finally {
        wasm.__wbindgen_free(deferred2_0, deferred2_1, 1);
    }
}

/**
 * Free-form non-negative kernel from traces and spike trains (see `crate::indeca::kernel_est`).
 * @param {Float32Array | number[]} traces_flat
 * @param {Float32Array | number[]} spikes_flat
 * @param {Uint32Array | number[]} trace_lengths
 * @param {Float64Array | number[]} alphas
 * @param {Float64Array | number[]} baselines
 * @param {number} kernel_length
 * @param {number} max_iters
 * @param {number} tol
 * @param {number} smooth_lambda
 * @param {Float32Array | number[] | null} [warm_kernel]
 * @returns {Float32Array}
 */
export function indeca_estimate_kernel(traces_flat, spikes_flat, trace_lengths, alphas, baselines, kernel_length, max_iters, tol, smooth_lambda, warm_kernel) {
    const val7 = +kernel_length;
    const val8 = +max_iters;
    const val9 = +tol;
    const val10 = +smooth_lambda;
    let ptr0, len0, ptr1, len1, ptr2, len2, ptr3, len3, ptr4, len4, ptr5, len5;
    try {
        ptr0 = passArrayF32ToWasm0(traces_flat, wasm.__wbindgen_malloc);
        len0 = WASM_VECTOR_LEN;
        ptr1 = passArrayF32ToWasm0(spikes_flat, wasm.__wbindgen_malloc);
        len1 = WASM_VECTOR_LEN;
        ptr2 = passArray32ToWasm0(trace_lengths, wasm.__wbindgen_malloc);
        len2 = WASM_VECTOR_LEN;
        ptr3 = passArrayF64ToWasm0(alphas, wasm.__wbindgen_malloc);
        len3 = WASM_VECTOR_LEN;
        ptr4 = passArrayF64ToWasm0(baselines, wasm.__wbindgen_malloc);
        len4 = WASM_VECTOR_LEN;
        ptr5 = isLikeNone(warm_kernel) ? 0 : passArrayF32ToWasm0(warm_kernel, wasm.__wbindgen_malloc);
        len5 = WASM_VECTOR_LEN;
    } catch (e) {
        if (ptr5) { wasm.__wbindgen_free(ptr5, len5 * 4, 4); }
        if (ptr4) { wasm.__wbindgen_free(ptr4, len4 * 8, 8); }
        if (ptr3) { wasm.__wbindgen_free(ptr3, len3 * 8, 8); }
        if (ptr2) { wasm.__wbindgen_free(ptr2, len2 * 4, 4); }
        if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 4, 4); }
        if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 4, 4); }
        throw e;
    }
    const ret = wasm.indeca_estimate_kernel(ptr0, len0, ptr1, len1, ptr2, len2, ptr3, len3, ptr4, len4, val7, val8, val9, val10, ptr5, len5);
    if (ret[3]) {
        throw takeObject(ret[2]);
    }
    var v11 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
    wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
    return v11;
}

/**
 * Bi-exponential fit of a free-form kernel, as BiexpFit JSON.
 * @param {Float32Array | number[]} h_free
 * @param {number} fs
 * @param {boolean} refine
 * @param {number} skip
 * @returns {string}
 */
export function indeca_fit_biexponential(h_free, fs, refine, skip) {
    let deferred6_0;
    let deferred6_1;
    try {
        const val2 = +fs;
        const val3 = +refine;
        const val4 = +skip;
        const ptr0 = passArrayF32ToWasm0(h_free, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.indeca_fit_biexponential(ptr0, len0, val2, val3, val4);
        var ptr5 = ret[0];
        var len5 = ret[1];
        if (ret[3]) {
            ptr5 = 0; len5 = 0;
            throw takeObject(ret[2]);
        }
        deferred6_0 = ptr5;
        deferred6_1 = len5;
        return getStringFromWasm0(ptr5, len5);
    } finally {
        wasm.__wbindgen_free(deferred6_0, deferred6_1, 1);
    }
}

/**
 * One InDeCa trace solve; returns `{s_counts: Float32Array, alpha, baseline, pve, threshold,
 * iterations, converged}`.
 * @param {Float32Array | number[]} trace
 * @param {number} tau_rise
 * @param {number} tau_decay
 * @param {number} fs
 * @param {number} upsample_factor
 * @param {number} max_iters
 * @param {number} tol
 * @param {boolean} hp_enabled
 * @param {boolean} lp_enabled
 * @param {number} lambda
 * @param {Float32Array | number[] | null} [warm_counts]
 * @returns {object}
 */
export function indeca_solve_trace(trace, tau_rise, tau_decay, fs, upsample_factor, max_iters, tol, hp_enabled, lp_enabled, lambda, warm_counts) {
    const val3 = +tau_rise;
    const val4 = +tau_decay;
    const val5 = +fs;
    const val6 = +upsample_factor;
    const val7 = +max_iters;
    const val8 = +tol;
    const val9 = +hp_enabled;
    const val10 = +lp_enabled;
    const val11 = +lambda;
    let ptr0, len0, ptr1, len1;
    try {
        ptr0 = passArrayF32ToWasm0(trace, wasm.__wbindgen_malloc);
        len0 = WASM_VECTOR_LEN;
        ptr1 = isLikeNone(warm_counts) ? 0 : passArrayF32ToWasm0(warm_counts, wasm.__wbindgen_malloc);
        len1 = WASM_VECTOR_LEN;
    } catch (e) {
        if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 4, 4); }
        if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 4, 4); }
        throw e;
    }
    const ret = wasm.indeca_solve_trace(ptr0, len0, val3, val4, val5, val6, val7, val8, val9, val10, val11, ptr1, len1);
    if (ret[2]) {
        throw takeObject(ret[1]);
    }
    return takeObject(ret[0]);
}

/**
 * [peak_time_s, fwhm_s]
 * @param {number} tau_rise
 * @param {number} tau_decay
 * @param {number} fs
 * @returns {Float64Array}
 */
export function kernel_shape(tau_rise, tau_decay, fs) {
    const ret = wasm.kernel_shape(tau_rise, tau_decay, fs);
    if (ret[3]) {
        throw takeObject(ret[2]);
    }
    var v1 = getArrayF64FromWasm0(ret[0], ret[1]).slice();
    wasm.__wbindgen_free(ret[0], ret[1] * 8, 8);
    return v1;
}

/**
 * AR(1) coefficient exp(-1 / (tau_decay fs)).
 * @param {number} tau_decay
 * @param {number} fs
 * @returns {number}
 */
export function l0_gamma_from_tau(tau_decay, fs) {
    const ret = wasm.l0_gamma_from_tau(tau_decay, fs);
    if (ret[2]) {
        throw takeObject(ret[1]);
    }
    return ret[0];
}

/**
 * Exact L0-penalised AR(1) deconvolution of one trace (`positive`: spikes only raise calcium).
 * @param {Float32Array | number[]} trace
 * @param {number} gamma
 * @param {number} lambda
 * @param {boolean} positive
 * @returns {L0Solution}
 */
export function l0_solve(trace, gamma, lambda, positive) {
    const val2 = +gamma;
    const val3 = +lambda;
    const val4 = +positive;
    const ptr0 = passArrayF32ToWasm0(trace, wasm.__wbindgen_malloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.l0_solve(ptr0, len0, val2, val3, val4);
    if (ret[2]) {
        throw takeObject(ret[1]);
    }
    return L0Solution.__wrap(ret[0]);
}

/**
 * The trace the L1 solver fits (`crate::solve::fitted_trace`): checked, then drift-removed and
 * band-passed as asked, with the kernel's cutoffs and window. The same preprocessing as the
 * stateful `Solver` and `deconvolve_trace`, without a solver to hold it.
 * @param {Float32Array | number[]} trace
 * @param {number} tau_rise
 * @param {number} tau_decay
 * @param {number} fs
 * @param {boolean} remove_drift
 * @param {boolean} bandpass
 * @returns {Float32Array}
 */
export function preprocess_trace(trace, tau_rise, tau_decay, fs, remove_drift, bandpass) {
    const val2 = +tau_rise;
    const val3 = +tau_decay;
    const val4 = +fs;
    const val5 = +remove_drift;
    const val6 = +bandpass;
    const ptr0 = passArrayF32ToWasm0(trace, wasm.__wbindgen_malloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.preprocess_trace(ptr0, len0, val2, val3, val4, val5, val6);
    if (ret[3]) {
        throw takeObject(ret[2]);
    }
    var v7 = getArrayF32FromWasm0(ret[0], ret[1]).slice();
    wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
    return v7;
}

/**
 * A preset config as JSON (gcamp6f, gcamp6m, gcamp6s, jgcamp8f, ogb1, clean).
 * @param {string} name
 * @returns {string}
 */
export function preset_json(name) {
    let deferred3_0;
    let deferred3_1;
    try {
        const ptr0 = passStringToWasm0(name, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.preset_json(ptr0, len0);
        var ptr2 = ret[0];
        var len2 = ret[1];
        if (ret[3]) {
            ptr2 = 0; len2 = 0;
            throw takeObject(ret[2]);
        }
        deferred3_0 = ptr2;
        deferred3_1 = len2;
        return getStringFromWasm0(ptr2, len2);
    } finally {
        wasm.__wbindgen_free(deferred3_0, deferred3_1, 1);
    }
}

/**
 * @returns {string[]}
 */
export function preset_names() {
    const ret = wasm.preset_names();
    var v1 = getArrayJsValueFromWasm0(ret[0], ret[1]);
    wasm.__wbindgen_free(ret[0], ret[1] * 4, 4);
    return v1;
}

/**
 * Simulate from a (possibly partial) JSON config; see `schemas/simulation-config.schema.json`.
 * @param {string} config_json
 * @returns {Simulation}
 */
export function simulate(config_json) {
    const ptr0 = passStringToWasm0(config_json, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.simulate(ptr0, len0);
    if (ret[2]) {
        throw takeObject(ret[1]);
    }
    return Simulation.__wrap(ret[0]);
}

/**
 * Version of the `calab-solver` crate this module was built from.
 * @returns {string}
 */
export function solver_version() {
    let deferred1_0;
    let deferred1_1;
    try {
        const ret = wasm.solver_version();
        deferred1_0 = ret[0];
        deferred1_1 = ret[1];
        return getStringFromWasm0(ret[0], ret[1]);
    } finally {
        wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
    }
}

/**
 * Runs once when the module is instantiated: panics reach `console.error` with a message.
 */
export function start() {
    wasm.start();
}

/**
 * [g1, g2, d, r, gain, dc_gain]
 * @param {number} tau_rise
 * @param {number} tau_decay
 * @param {number} fs
 * @returns {Float64Array}
 */
export function tau_to_ar2(tau_rise, tau_decay, fs) {
    const ret = wasm.tau_to_ar2(tau_rise, tau_decay, fs);
    if (ret[3]) {
        throw takeObject(ret[2]);
    }
    var v1 = getArrayF64FromWasm0(ret[0], ret[1]).slice();
    wasm.__wbindgen_free(ret[0], ret[1] * 8, 8);
    return v1;
}
function __wbg_get_imports() {
    const import0 = {
        __proto__: null,
        __wbg___wbindgen_throw_4c88d8bf264fd984: function(arg0, arg1) {
            throw new Error(getStringFromWasm0(arg0, arg1));
        },
        __wbg_error_757e9472f8410341: function(arg0, arg1) {
            let deferred0_0;
            let deferred0_1;
            try {
                deferred0_0 = arg0;
                deferred0_1 = arg1;
                console.error(getStringFromWasm0(arg0, arg1));
            } finally {
                wasm.__wbindgen_free(deferred0_0, deferred0_1, 1);
            }
        },
        __wbg_new_787b9fb330d55d78: function(arg0, arg1) {
            const ret = new Error(getStringFromWasm0(arg0, arg1));
            return addHeapObject(ret);
        },
        __wbg_new_bb74001155cb8ca8: function() {
            const ret = new Error();
            return addHeapObject(ret);
        },
        __wbg_new_cd4348290afae586: function() {
            const ret = new Object();
            return addHeapObject(ret);
        },
        __wbg_new_from_slice_355c10c5d8f2addb: function(arg0, arg1) {
            const ret = new Float32Array(getArrayF32FromWasm0(arg0, arg1));
            return addHeapObject(ret);
        },
        __wbg_set_2793479888329cb6: function() { return handleError(function (arg0, arg1, arg2) {
            const ret = Reflect.set(getObject(arg0), getObject(arg1), getObject(arg2));
            return ret;
        }, arguments); },
        __wbg_stack_575c4e0918581b9c: function(arg0, arg1) {
            const ret = getObject(arg1).stack;
            const ptr1 = passStringToWasm0(ret, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            const len1 = WASM_VECTOR_LEN;
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 1, len1, true);
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, ptr1, true);
        },
        __wbindgen_generic_0000000000000001: function(arg0) {
            // Cast intrinsic for `F64 -> Externref`.
            const ret = arg0;
            return addHeapObject(ret);
        },
        __wbindgen_generic_0000000000000002: function(arg0, arg1) {
            // Cast intrinsic for `Ref(String) -> Externref`.
            const ret = getStringFromWasm0(arg0, arg1);
            return addHeapObject(ret);
        },
        __wbindgen_object_drop_ref: function(arg0) {
            takeObject(arg0);
        },
    };
    return {
        __proto__: null,
        "./calab_solver_bg.js": import0,
    };
}

const ConvarSolutionFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_convarsolution_free(ptr, 1));
const DeconvResultFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_deconvresult_free(ptr, 1));
const IndecaRunFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_indecarun_free(ptr, 1));
const L0SolutionFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_l0solution_free(ptr, 1));
const SimulationFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_simulation_free(ptr, 1));
const SolverFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_solver_free(ptr, 1));

function addHeapObject(obj) {
    if (heap_next === heap.length) heap.push(heap.length + 1);
    const idx = heap_next;
    heap_next = heap[idx];

    heap[idx] = obj;
    return idx;
}

function dropObject(idx) {
    if (idx < 1028) return;
    heap[idx] = heap_next;
    heap_next = idx;
}

function getArrayF32FromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return getFloat32ArrayMemory0().subarray(ptr / 4, ptr / 4 + len);
}

function getArrayF64FromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return getFloat64ArrayMemory0().subarray(ptr / 8, ptr / 8 + len);
}

function getArrayJsValueFromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    const mem = getDataViewMemory0();
    const result = [];
    for (let i = ptr; i < ptr + 4 * len; i += 4) {
        result.push(takeObject(mem.getUint32(i, true)));
    }
    return result;
}

function getArrayU32FromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return getUint32ArrayMemory0().subarray(ptr / 4, ptr / 4 + len);
}

let cachedDataViewMemory0 = null;
function getDataViewMemory0() {
    if (cachedDataViewMemory0 === null || cachedDataViewMemory0.buffer.detached === true || (cachedDataViewMemory0.buffer.detached === undefined && cachedDataViewMemory0.buffer !== wasm.memory.buffer)) {
        cachedDataViewMemory0 = new DataView(wasm.memory.buffer);
    }
    return cachedDataViewMemory0;
}

let cachedFloat32ArrayMemory0 = null;
function getFloat32ArrayMemory0() {
    if (cachedFloat32ArrayMemory0 === null || cachedFloat32ArrayMemory0.byteLength === 0) {
        cachedFloat32ArrayMemory0 = new Float32Array(wasm.memory.buffer);
    }
    return cachedFloat32ArrayMemory0;
}

let cachedFloat64ArrayMemory0 = null;
function getFloat64ArrayMemory0() {
    if (cachedFloat64ArrayMemory0 === null || cachedFloat64ArrayMemory0.byteLength === 0) {
        cachedFloat64ArrayMemory0 = new Float64Array(wasm.memory.buffer);
    }
    return cachedFloat64ArrayMemory0;
}

function getStringFromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return decodeText(getUint8ArrayMemory0().subarray(ptr, ptr + len));
}

let cachedUint32ArrayMemory0 = null;
function getUint32ArrayMemory0() {
    if (cachedUint32ArrayMemory0 === null || cachedUint32ArrayMemory0.byteLength === 0) {
        cachedUint32ArrayMemory0 = new Uint32Array(wasm.memory.buffer);
    }
    return cachedUint32ArrayMemory0;
}

let cachedUint8ArrayMemory0 = null;
function getUint8ArrayMemory0() {
    if (cachedUint8ArrayMemory0 === null || cachedUint8ArrayMemory0.byteLength === 0) {
        cachedUint8ArrayMemory0 = new Uint8Array(wasm.memory.buffer);
    }
    return cachedUint8ArrayMemory0;
}

function getObject(idx) { return heap[idx]; }

function handleError(f, args) {
    try {
        return f.apply(this, args);
    } catch (e) {
        wasm.__wbindgen_exn_store(addHeapObject(e));
    }
}

let heap = new Array(1024).fill(undefined);
heap.push(undefined, null, true, false);

let heap_next = heap.length;

function isLikeNone(x) {
    return x === undefined || x === null;
}

function passArray32ToWasm0(arg, malloc) {
    const ptr = malloc(arg.length * 4, 4) >>> 0;
    getUint32ArrayMemory0().set(arg, ptr / 4);
    WASM_VECTOR_LEN = arg.length;
    return ptr;
}

function passArrayF32ToWasm0(arg, malloc) {
    const ptr = malloc(arg.length * 4, 4) >>> 0;
    getFloat32ArrayMemory0().set(arg, ptr / 4);
    WASM_VECTOR_LEN = arg.length;
    return ptr;
}

function passArrayF64ToWasm0(arg, malloc) {
    const ptr = malloc(arg.length * 8, 8) >>> 0;
    getFloat64ArrayMemory0().set(arg, ptr / 8);
    WASM_VECTOR_LEN = arg.length;
    return ptr;
}

function passStringToWasm0(arg, malloc, realloc) {
    if (realloc === undefined) {
        const buf = cachedTextEncoder.encode(arg);
        const ptr = malloc(buf.length, 1) >>> 0;
        getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);
        WASM_VECTOR_LEN = buf.length;
        return ptr;
    }

    let len = arg.length;
    let ptr = malloc(len, 1) >>> 0;

    const mem = getUint8ArrayMemory0();

    let offset = 0;

    for (; offset < len; offset++) {
        const code = arg.charCodeAt(offset);
        if (code > 0x7F) break;
        mem[ptr + offset] = code;
    }
    if (offset !== len) {
        if (offset !== 0) {
            arg = arg.slice(offset);
        }
        ptr = realloc(ptr, len, len = offset + arg.length * 3, 1) >>> 0;
        const view = getUint8ArrayMemory0().subarray(ptr + offset, ptr + len);
        const ret = cachedTextEncoder.encodeInto(arg, view);

        offset += ret.written;
        ptr = realloc(ptr, len, offset, 1) >>> 0;
    }

    WASM_VECTOR_LEN = offset;
    return ptr;
}

function takeObject(idx) {
    const ret = getObject(idx);
    dropObject(idx);
    return ret;
}

let cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
cachedTextDecoder.decode();
const MAX_SAFARI_DECODE_BYTES = 2146435072;
let numBytesDecoded = 0;
function decodeText(bytes) {
    numBytesDecoded += bytes.length;
    if (numBytesDecoded >= MAX_SAFARI_DECODE_BYTES) {
        cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
        cachedTextDecoder.decode();
        numBytesDecoded = bytes.length;
    }
    return cachedTextDecoder.decode(bytes);
}

const cachedTextEncoder = new TextEncoder();

if (!('encodeInto' in cachedTextEncoder)) {
    cachedTextEncoder.encodeInto = function (arg, view) {
        const buf = cachedTextEncoder.encode(arg);
        view.set(buf);
        return {
            read: arg.length,
            written: buf.length
        };
    };
}

let WASM_VECTOR_LEN = 0;

let wasmModule, wasmInstance, wasm;
function __wbg_finalize_init(instance, module) {
    wasmInstance = instance;
    wasm = instance.exports;
    wasmModule = module;
    cachedDataViewMemory0 = null;
    cachedFloat32ArrayMemory0 = null;
    cachedFloat64ArrayMemory0 = null;
    cachedUint32ArrayMemory0 = null;
    cachedUint8ArrayMemory0 = null;
    wasm.__wbindgen_start();
    return wasm;
}

async function __wbg_load(module, imports) {
    if (typeof Response === 'function' && module instanceof Response) {
        if (!module.ok) {
            throw new Error(`failed to fetch Wasm: ${module.status} ${module.statusText} fetching '${module.url}'`);
        }

        if (typeof WebAssembly.instantiateStreaming === 'function') {
            try {
                return await WebAssembly.instantiateStreaming(module, imports);
            } catch (e) {
                const validResponse = expectedResponseType(module.type);

                if (validResponse && module.headers.get('Content-Type') !== 'application/wasm') {
                    console.warn("`WebAssembly.instantiateStreaming` failed because your server does not serve Wasm with `application/wasm` MIME type. Falling back to `WebAssembly.instantiate` which is slower. Original error:\n", e);

                } else { throw e; }
            }
        }

        const bytes = await module.arrayBuffer();
        return await WebAssembly.instantiate(bytes, imports);
    } else {
        const instance = await WebAssembly.instantiate(module, imports);

        if (instance instanceof WebAssembly.Instance) {
            return { instance, module };
        } else {
            return instance;
        }
    }

    function expectedResponseType(type) {
        switch (type) {
            case 'basic': case 'cors': case 'default': return true;
        }
        return false;
    }
}

function initSync(module) {
    if (wasm !== undefined) return wasm;


    if (module !== undefined) {
        if (Object.getPrototypeOf(module) === Object.prototype) {
            ({module} = module)
        } else {
            console.warn('using deprecated parameters for `initSync()`; pass a single object instead')
        }
    }

    const imports = __wbg_get_imports();
    if (!(module instanceof WebAssembly.Module)) {
        module = new WebAssembly.Module(module);
    }
    const instance = new WebAssembly.Instance(module, imports);
    return __wbg_finalize_init(instance, module);
}

let __wbg_init_promise;
async function __wbg_init(module_or_path) {
    if (wasm !== undefined) return wasm;
    if (__wbg_init_promise === undefined) {
        __wbg_init_promise = __wbg_init_once(module_or_path);
        __wbg_init_promise.catch(() => { __wbg_init_promise = undefined; });
    }
    return __wbg_init_promise;
}

async function __wbg_init_once(module_or_path) {

    if (module_or_path !== undefined) {
        if (Object.getPrototypeOf(module_or_path) === Object.prototype) {
            ({module_or_path} = module_or_path)
        } else {
            console.warn('using deprecated parameters for the initialization function; pass a single object instead')
        }
    }

    if (module_or_path === undefined) {
        module_or_path = new URL('calab_solver_bg.wasm', import.meta.url);
    }
    const imports = __wbg_get_imports();

    if (typeof module_or_path === 'string' || (typeof Request === 'function' && module_or_path instanceof Request) || (typeof URL === 'function' && module_or_path instanceof URL)) {
        module_or_path = fetch(module_or_path);
    }

    const { instance, module } = await __wbg_load(await module_or_path, imports);

    return __wbg_finalize_init(instance, module);
}

export { initSync, __wbg_init as default };
