/**
 * Reconstruct: after the plan, refit every o_proj / down_proj that loses inputs by ridge least squares
 * on calibration tokens (surgery's reconstruction/solve.ts has the derivation). The input moments come
 * from a probe pass over the calibration rows (scoring's collectInputMoments), a few layers at a time
 * so the float64 Grams stay under a memory budget; each layer is solved as soon as its moments are in
 * and only its fit is kept. The result goes to surgery (`pruneTo({ reconstruction })`).
 */
import type { PruningPlan } from '@llm-bip/model';
import { createMatMul, type EpChoice, type MatMulBackend } from '@llm-bip/runtime';
import { collectInputMoments, modelWeights, type CalibrationSet, type MemoryBudget, type MomentTap, type ProjectionMoments } from '@llm-bip/scoring';
import { reconstructProjection, removedProjectionInputs, ReconstructionStore, SurgeryError, checkRidgeSearch, type DenseWeight, type MatMul, type ProjectionFit, type RidgeSearch } from '@llm-bip/surgery';
import { DEFAULTS } from './defaults.js';
import { hooksOf, type PipelineHooks } from './hooks.js';
import type { ModelInput } from './score.js';

export interface ReconstructRequest {
  /** 'auto' (held-out choice among `alphas`) or a fixed ridge alpha (DEFAULTS.reconstruction.lambda) */
  lambda?: 'auto' | number;
  /** ridge candidates for 'auto' (DEFAULTS.reconstruction.alphas) */
  alphas?: readonly number[];
  /** which of them 'auto' evaluates (DEFAULTS.reconstruction.search; surgery's ridge-search.ts) */
  search?: RidgeSearch;
  /** fraction of the calibration rows held out for 'auto' (DEFAULTS.reconstruction.holdout) */
  holdout?: number;
  /** float64 moments held at once (DEFAULTS.reconstruction.memoryBytes) */
  memoryBytes?: number;
  /** moments collected before (e.g. once for several plans); collected here when absent */
  moments?: readonly ProjectionMoments[];
  /** spill the refit weights to a scratch file in this folder instead of memory */
  spillDir?: string;
  ep?: EpChoice;
  batchSize?: number;
  threads?: number;
  /** device memory the moments probe may use; block by block when the whole probe does not fit (as scoring) */
  maxDeviceMemory?: MemoryBudget;
  /** run the moments probe block by block with this many blocks per session */
  blocksPerSession?: number;
}

/** The rows held out for choosing the ridge: none for a fixed one, else round(fraction x rows), at least 1. */
export function holdoutRowsFor(rows: number, req: Pick<ReconstructRequest, 'lambda' | 'holdout'>): number {
  if ((req.lambda ?? DEFAULTS.reconstruction.lambda) !== 'auto') return 0;
  const f = req.holdout ?? DEFAULTS.reconstruction.holdout;
  if (!(f > 0 && f < 1)) throw new SurgeryError(`holdout ${f}: give a fraction of the calibration samples in (0, 1), e.g. 0.125`);
  const n = Math.max(1, Math.round(f * rows));
  if (n >= rows) throw new SurgeryError(`holding out ${n} of ${rows} calibration samples leaves none to fit: use more samples (--samples) or a smaller --holdout`);
  return n;
}

/** Check a request before any long step: the ridge and the holdout. */
export function checkReconstructRequest(req: ReconstructRequest, samples: number): void {
  const lambda = req.lambda ?? DEFAULTS.reconstruction.lambda;
  if (lambda !== 'auto' && !(typeof lambda === 'number' && lambda >= 0)) throw new SurgeryError(`reconstruction lambda ${String(lambda)}: give "auto" or a number >= 0 (relative to the kept inputs' mean variance)`);
  if (req.search !== undefined) checkRidgeSearch(req.search, 'reconstruction');
  holdoutRowsFor(samples, req);
}

/** Moments of the inputs of every o_proj / down_proj the plan cuts (or of every one, without a plan). */
export async function collectReconstructionMoments(model: ModelInput, calibration: CalibrationSet, req: ReconstructRequest = {}, hooks?: PipelineHooks, taps?: MomentTap[]): Promise<ProjectionMoments[]> {
  const h = hooksOf(hooks);
  const wanted = taps ?? model.spec.layers.flatMap((l) => [{ layer: l.index, tensor: 'attnContext' as const }, { layer: l.index, tensor: 'ffnAct' as const }]);
  const holdoutRows = holdoutRowsFor(calibration.rows.length, req);
  const chunks = chunkByMemory(model, wanted, req.memoryBytes ?? DEFAULTS.reconstruction.memoryBytes, holdoutRows > 0);
  const bar = h.progress({ label: 'reconstruction statistics', total: chunks.length * calibration.rows.length, unit: 'sample' });
  const out: ProjectionMoments[] = [];
  for (const [i, c] of chunks.entries()) {
    out.push(
      ...(await collectInputMoments({
        model: model.loaded,
        spec: model.spec,
        rows: calibration.rows,
        moments: c,
        holdoutRows,
        ep: req.ep ?? DEFAULTS.ep,
        ...(req.batchSize ? { batchSize: req.batchSize } : {}),
        ...(req.threads ? { threads: req.threads } : {}),
        ...(req.maxDeviceMemory !== undefined ? { maxDeviceMemory: req.maxDeviceMemory } : {}),
        ...(req.blocksPerSession !== undefined ? { blocksPerSession: req.blocksPerSession } : {}),
        onLog: h.log,
        onProgress: (done) => {
          h.check();
          bar.update(i * calibration.rows.length + done);
        },
      })),
    );
  }
  bar.finish();
  return out;
}

/**
 * Refit every projection the plan cuts. Layers are collected (unless `req.moments` has them) and solved a
 * chunk at a time; the store holds only the fits. Call `dispose()` on the result when done with it.
 */
export async function reconstructFor(model: ModelInput, plan: PruningPlan, calibration: CalibrationSet, req: ReconstructRequest = {}, hooks?: PipelineHooks): Promise<ReconstructionStore> {
  const h = hooksOf(hooks);
  checkReconstructRequest(req, calibration.rows.length);
  const lambda = req.lambda ?? DEFAULTS.reconstruction.lambda;
  const holdoutRows = req.moments ? undefined : holdoutRowsFor(calibration.rows.length, req);
  const cut = removedProjectionInputs(model.spec, plan);
  const products = solveProducts(req, h.log);
  const store = newReconstructionStore(req, calibration, holdoutRows);
  try {
    const taps: MomentTap[] = cut.map((c) => ({ layer: c.layer, tensor: c.block === 'attention' ? 'attnContext' : 'ffnAct' }));
    const weights = modelWeights(model.loaded.model, model.loaded.dir);
    const chunks = req.moments ? [taps] : chunkByMemory(model, taps, req.memoryBytes ?? DEFAULTS.reconstruction.memoryBytes, (holdoutRows ?? 0) > 0);
    const bar = h.progress({ label: 'reconstruction solve', total: cut.length, unit: 'projection' });
    let solved = 0;
    for (const chunk of chunks) {
      const moments = req.moments ?? (await collectReconstructionMoments(model, calibration, req, hooks, chunk));
      for (const t of chunk) {
        const c = cut.find((x) => x.layer === t.layer && (x.block === 'attention') === (t.tensor === 'attnContext'))!;
        const m = moments.find((x) => x.layer === t.layer && x.tensor === t.tensor);
        const what = `layer ${c.layer} ${c.block === 'attention' ? 'o_proj' : 'down_proj'}`;
        if (!m) throw new SurgeryError(`${what}: the given moments do not include its input (${t.tensor}); collect them for every layer`);
        await refitInto(store, await weights.linear(c.linear), m, c.keep, req, what, { matmul: products.matmul, log: h.log });
        bar.update(++solved);
        h.check();
      }
    }
    bar.finish();
    return store;
  } catch (e) {
    store.dispose();
    throw e;
  } finally {
    await products.close();
  }
}

/**
 * The float64 products of the reconstruction solves (surgery's blocked Cholesky and solve), one ORT
 * session on the run's EP for the whole run: 14-32x faster than the JavaScript products (surgery README,
 * "Least-squares reconstruction"). The session is created by the first product, so a run that refits
 * nothing creates none. Close it when the run ends.
 */
export function solveProducts(req: Pick<ReconstructRequest, 'ep' | 'threads'>, onLog?: (line: string) => void): { matmul: MatMul; close(): Promise<void> } {
  let backend: Promise<MatMulBackend> | undefined;
  const open = () =>
    (backend ??= createMatMul({ ep: req.ep ?? DEFAULTS.ep, ...(req.threads ? { threads: req.threads } : {}), ...(onLog ? { onLog: (l) => onLog(`reconstruction products: ${l}`) } : {}) }));
  return {
    matmul: async (a, rows, inner, b, cols, consume) => (await open()).matmul(a, rows, inner, b, cols, consume),
    close: async () => {
      if (backend) await (await backend).close();
    },
  };
}

/** An empty store whose summary records how its fits are made (ridge, candidates, held-out rows, calibration). */
export function newReconstructionStore(req: ReconstructRequest, calibration: CalibrationSet, holdoutRows: number | undefined, extra: Record<string, unknown> = {}): ReconstructionStore {
  const lambda = req.lambda ?? DEFAULTS.reconstruction.lambda;
  return new ReconstructionStore({
    ...(req.spillDir ? { spillDir: req.spillDir } : {}),
    summary: {
      method: 'least-squares',
      lambda: lambda === 'auto' ? 'auto' : lambda,
      ...(lambda === 'auto' ? { alphas: (req.alphas ?? DEFAULTS.reconstruction.alphas).map((a) => (a === Infinity ? 'mean' : a)), search: req.search ?? DEFAULTS.reconstruction.search } : {}),
      ...(holdoutRows !== undefined ? { holdoutSamples: holdoutRows } : {}),
      calibration: { source: calibration.source, samples: calibration.samples, seqLen: calibration.seqLen, seed: calibration.seed },
      ...extra,
    },
  });
}

/**
 * Fit one projection (the ridge as the request says, the products through `matmul`) and keep the fit, with
 * its held-out errors, in `store`. Says a line first: at 7B width one fit takes minutes.
 */
export async function refitInto(store: ReconstructionStore, weight: DenseWeight, moments: ProjectionMoments, keep: number[], req: ReconstructRequest, what: string, opts: { matmul?: MatMul; log?: (line: string) => void } = {}): Promise<ProjectionFit> {
  const lambda = req.lambda ?? DEFAULTS.reconstruction.lambda;
  const search = req.search ?? DEFAULTS.reconstruction.search;
  opts.log?.(`${what}: least-squares refit of ${keep.length} of ${weight.inFeatures} inputs${lambda === 'auto' ? `, ridge chosen among ${(req.alphas ?? DEFAULTS.reconstruction.alphas).length} (${search})` : ''}`);
  const log = opts.log;
  // one line per ridge candidate: at 7B width each is a factorisation of seconds to a minute
  const onCandidate = log ? (alpha: number, error: number | undefined) => log(`${what}: ridge ${alpha === Infinity ? 'mean' : alpha}: ${error === undefined ? 'not positive definite' : `held-out error ${error.toPrecision(4)}`}`) : undefined;
  const fit = await reconstructProjection(weight, moments, keep, { lambda, alphas: req.alphas, search, onCandidate }, what, opts.matmul);
  const layer = moments.layer;
  store.add(layer, moments.tensor === 'attnContext' ? 'attention' : 'ffn', fit, fit.choice ? { heldOutError: Object.fromEntries(fit.choice.errors.map((e) => [e.alpha === Infinity ? 'mean' : String(e.alpha), e.error])) } : undefined);
  return fit;
}

/** Split moment taps into groups whose float64 Grams (x2 with a holdout) stay under `budget` bytes (at least one per group). */
function chunkByMemory(model: ModelInput, taps: MomentTap[], budget: number, holdout: boolean): MomentTap[][] {
  const bytes = (t: MomentTap) => {
    const l = model.spec.layers[t.layer]!;
    const w = t.tensor === 'attnContext' ? l.numHeads * l.headDim : l.intermediateSize;
    // float64 sums per split, plus the probe's float32 output of one batch
    return w * w * (8 * (holdout ? 2 : 1) + 4);
  };
  const chunks: MomentTap[][] = [];
  let current: MomentTap[] = [];
  let used = 0;
  for (const t of taps) {
    const b = bytes(t);
    if (current.length > 0 && used + b > budget) {
      chunks.push(current);
      current = [];
      used = 0;
    }
    current.push(t);
    used += b;
  }
  if (current.length) chunks.push(current);
  return chunks;
}
