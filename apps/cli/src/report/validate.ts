/** Check that a parsed results.json is ReportData, naming the first field that is wrong. */
import { RESULTS_FORMAT, type ReportData } from './types.js';

export class ReportDataError extends Error {
  override name = 'ReportDataError';
  readonly category = 'input';
}

type Obj = Record<string, unknown>;

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function validateReportData(value: unknown, source = 'results.json'): ReportData {
  const fail = (path: string, want: string): never => {
    throw new ReportDataError(
      `${source}: ${path} should be ${want}. Pass the results.json written by \`llm-bip prune-llm\` (format "${RESULTS_FORMAT}").`,
    );
  };
  const num = (o: Obj, key: string, path: string, optional = false): void => {
    const v = o[key];
    if (v === undefined && optional) return;
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(join(path, key), 'a finite number');
  };
  const str = (o: Obj, key: string, path: string, optional = false): void => {
    const v = o[key];
    if (v === undefined && optional) return;
    if (typeof v !== 'string') fail(join(path, key), 'a string');
  };
  const obj = (o: Obj, key: string, path: string): Obj => {
    const v = o[key];
    if (!isObj(v)) return fail(join(path, key), 'an object');
    return v;
  };
  const arr = (o: Obj, key: string, path: string): unknown[] => {
    const v = o[key];
    if (!Array.isArray(v)) return fail(join(path, key), 'an array');
    return v;
  };

  if (!isObj(value)) return fail('the top level', 'a JSON object');
  const d = value;
  if (d.format !== RESULTS_FORMAT) fail('format', `"${RESULTS_FORMAT}"`);
  const model = obj(d, 'model', '');
  str(model, 'name', 'model');
  num(model, 'numLayers', 'model');
  num(model, 'hiddenSize', 'model');

  const params = obj(d, 'params', '');
  for (const side of ['dense', 'pruned']) {
    const p = obj(params, side, 'params');
    for (const k of ['total', 'attention', 'mlp', 'embeddings']) num(p, k, `params.${side}`);
    arr(p, 'perLayer', `params.${side}`).forEach((l, i) => {
      if (!isObj(l)) fail(`params.${side}.perLayer[${i}]`, 'an object');
      num(l as Obj, 'attention', `params.${side}.perLayer[${i}]`);
      num(l as Obj, 'mlp', `params.${side}.perLayer[${i}]`);
    });
  }

  const plan = obj(d, 'plan', '');
  str(plan, 'criterion', 'plan');
  num(plan, 'ratio', 'plan');
  str(plan, 'allocation', 'plan');
  if (plan.headGranularity !== 'head' && plan.headGranularity !== 'kv-group') fail('plan.headGranularity', '"head" or "kv-group"');
  arr(plan, 'layers', 'plan').forEach((l, i) => {
    const path = `plan.layers[${i}]`;
    if (!isObj(l)) fail(path, 'an object');
    const layer = l as Obj;
    num(layer, 'layer', path);
    for (const k of ['heads', 'kvHeads', 'channels']) {
      const c = obj(layer, k, path);
      num(c, 'kept', `${path}.${k}`);
      num(c, 'total', `${path}.${k}`);
    }
  });

  if (d.scores !== undefined) {
    const scores = obj(d, 'scores', '');
    arr(scores, 'layers', 'scores').forEach((l, i) => {
      const path = `scores.layers[${i}]`;
      if (!isObj(l)) fail(path, 'an object');
      const layer = l as Obj;
      num(layer, 'layer', path);
      for (const k of ['heads', 'channels']) {
        if (layer[k] === undefined) continue;
        const s = obj(layer, k, path);
        for (const q of ['count', 'min', 'q1', 'median', 'q3', 'max']) num(s, q, `${path}.${k}`);
        num(s, 'threshold', `${path}.${k}`, true);
        const h = obj(s, 'histogram', `${path}.${k}`);
        const edges = arr(h, 'edges', `${path}.${k}.histogram`);
        const counts = arr(h, 'counts', `${path}.${k}.histogram`);
        if (edges.length !== counts.length + 1) fail(`${path}.${k}.histogram`, 'edges one longer than counts');
        if (![...edges, ...counts].every((v) => typeof v === 'number' && Number.isFinite(v))) fail(`${path}.${k}.histogram`, 'finite numbers');
      }
    });
  }

  if (d.eval !== undefined) {
    const e = obj(d, 'eval', '');
    num(e, 'seqLen', 'eval', true);
    num(e, 'limit', 'eval', true);
    for (const side of ['dense', 'pruned']) {
      const r = obj(e, side, 'eval');
      const ppl = obj(r, 'perplexity', `eval.${side}`);
      for (const k of Object.keys(ppl)) num(ppl, k, `eval.${side}.perplexity`);
      if (r.tasks !== undefined) {
        const tasks = obj(r, 'tasks', `eval.${side}`);
        for (const k of Object.keys(tasks)) {
          const t = obj(tasks, k, `eval.${side}.tasks`);
          num(t, 'acc', `eval.${side}.tasks.${k}`);
          num(t, 'accNorm', `eval.${side}.tasks.${k}`, true);
        }
      }
    }
  }

  if (d.speed !== undefined) {
    const s = obj(d, 'speed', '');
    for (const side of ['dense', 'pruned']) {
      const r = obj(s, side, 'speed');
      num(r, 'prefillTokensPerSec', `speed.${side}`);
      num(r, 'decodeTokensPerSec', `speed.${side}`, true);
    }
  }
  return value as unknown as ReportData;
}
