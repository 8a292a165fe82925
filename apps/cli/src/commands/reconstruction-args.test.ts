import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { parseReconstruction } from './reconstruction-args.js';
import { compensationWanted } from './prune-llm/index.js';
import { cli } from '../capture.testutil.js';

describe('--reconstruct, --reconstruct-lambda, --holdout', () => {
  it('off without --reconstruct; its options alone are a usage error naming them', () => {
    expect(parseReconstruction({}, 128)).toBeUndefined();
    expect(() => parseReconstruction({ 'reconstruct-lambda': '0.1' }, 128)).toThrow(/--reconstruct-lambda sets up --reconstruct: add --reconstruct, or leave it out/);
    expect(() => parseReconstruction({ 'reconstruct-lambda': 'auto', holdout: '0.2' }, 128)).toThrow(/--reconstruct-lambda and --holdout set up --reconstruct/);
    expect(() => parseReconstruction({ 'reconstruct-lambda': 'auto', holdout: '0.2', 'reconstruct-search': 'grid' }, 128)).toThrow(/--reconstruct-lambda, --holdout and --reconstruct-search set up --reconstruct/);
  });

  it('--reconstruct-search walk|grid with the auto ridge; refused with a fixed ridge or an unknown name', () => {
    expect(parseReconstruction({ reconstruct: true, 'reconstruct-search': 'grid' }, 128)).toEqual({ lambda: 'auto', holdout: 0.125, search: 'grid' });
    expect(parseReconstruction({ reconstruct: true, 'reconstruct-search': 'Walk' }, 128)).toEqual({ lambda: 'auto', holdout: 0.125, search: 'walk' });
    expect(() => parseReconstruction({ reconstruct: true, 'reconstruct-search': 'binary' }, 128)).toThrow(/--reconstruct-search binary: give walk or grid/);
    expect(() => parseReconstruction({ reconstruct: true, 'reconstruct-lambda': '0.01', 'reconstruct-search': 'grid' }, 128)).toThrow(/with a fixed --reconstruct-lambda there is no choice/);
  });

  it('auto ridge with the default holdout; a number; auto with a holdout fraction', () => {
    expect(parseReconstruction({ reconstruct: true }, 128)).toEqual({ lambda: 'auto', holdout: 0.125 });
    expect(parseReconstruction({ reconstruct: true, 'reconstruct-lambda': '0.01' }, 128)).toEqual({ lambda: 0.01, holdout: 0.125 });
    expect(parseReconstruction({ reconstruct: true, 'reconstruct-lambda': 'AUTO', holdout: '0.25' }, 128)).toEqual({ lambda: 'auto', holdout: 0.25 });
  });

  it('refuses bad values before any work, saying what to give', () => {
    for (const bad of ['-1', 'abc', '', 'NaN', 'Infinity']) {
      expect(() => parseReconstruction({ reconstruct: true, 'reconstruct-lambda': bad }, 128)).toThrow(UsageError);
    }
    expect(() => parseReconstruction({ reconstruct: true, holdout: '1' }, 128)).toThrow(/--holdout 1: give a fraction .* in \(0, 1\)/);
    expect(() => parseReconstruction({ reconstruct: true, 'reconstruct-lambda': '0.1', holdout: '0.2' }, 128)).toThrow(/with a fixed --reconstruct-lambda every sample is used/);
    expect(() => parseReconstruction({ reconstruct: true, holdout: '0.9' }, 2)).toThrow(/leaves none to fit/);
  });

  it('--no-compensate (prune-llm) and --compensate (prune) contradict --reconstruct, before any file is read', async () => {
    expect(() => compensationWanted({ 'no-compensate': true, reconstruct: true })).toThrow(/--reconstruct fits its own bias/);
    const r = await cli(['prune', 'no-such-model.onnx', '--plan', 'no-such-plan.json', '--reconstruct', '--compensate', '-o', 'never-written']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/give --reconstruct or --compensate, not both/);
    const l = await cli(['prune-llm', 'no-such-model.onnx', '--ratio', '0.2', '--reconstruct-lambda', 'x', '-o', 'never-written']);
    expect(l.code).toBe(2);
    expect(l.stderr).toMatch(/--reconstruct-lambda sets up --reconstruct/);
  });
});
