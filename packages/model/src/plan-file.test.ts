/** Plan files are checked on read and against the model, naming the field at fault. */
import { describe, expect, it } from 'vitest';
import { PlanMismatchError, emptyPlan, parsePlan, validatePlan } from './plan.js';
import type { ModelSpec } from './spec.js';

/** The fields of a ModelSpec that plans read. */
const spec = {
  numLayers: 2,
  hiddenSize: 8,
  layers: [0, 1].map((index) => ({ index, numHeads: 2, numKvHeads: 2, headDim: 4, intermediateSize: 6 })),
} as unknown as ModelSpec;

const plan = () => JSON.parse(JSON.stringify(emptyPlan(spec, 'fp'))) as Record<string, unknown> & ReturnType<typeof emptyPlan>;

describe('plan files', () => {
  it('a plan without "model" is refused on read, naming the field', () => {
    const { model: _m, ...rest } = plan();
    expect(() => parsePlan(rest, 'plan.json')).toThrow(PlanMismatchError);
    expect(() => parsePlan(rest, 'plan.json')).toThrow(/plan.json: has no "model" object/);
  });

  it('null or string indices are refused on read', () => {
    const p = plan();
    (p.layers[0] as unknown as Record<string, unknown>).keepHeads = [0, null];
    expect(() => parsePlan(p, 'plan.json')).toThrow(/"layers\[0\].keepHeads" must be a list of integer indices/);
  });

  it('a duplicated layer is refused (it would leave another layer unplanned)', () => {
    const p = plan();
    p.layers[1] = { ...p.layers[0]! };
    expect(() => validatePlan(parsePlan(p), spec)).toThrow(/plan names layer 0 twice/);
  });

  it('a plan file that keeps no head (or no channel) of a layer is refused: the result could not be read back', () => {
    const p = plan();
    p.layers[1] = { ...p.layers[1]!, keepHeads: [], keepKvHeads: [] };
    expect(() => parsePlan(p, 'plan.json')).toThrow(/"layers\[1\]" \(layer 1\) keeps no attention heads/);
    const q = plan();
    q.layers[0] = { ...q.layers[0]!, keepChannels: [] };
    expect(() => parsePlan(q, 'plan.json')).toThrow(/"layers\[0\]" \(layer 0\) keeps no FFN channels/);
    // the library can still remove a whole block (surgery supports it); only plan files are refused
    expect(() => validatePlan(q, spec)).not.toThrow();
  });

  it('a well-formed plan passes both checks', () => {
    expect(() => validatePlan(parsePlan(plan()), spec)).not.toThrow();
  });
});
