import { DEFAULTS, type ReconstructRequest } from '@llm-bip/pipeline';
import { RIDGE_SEARCHES } from '@llm-bip/surgery';
import { booleanOption, stringOption } from '../args.js';
import type { OptionValues } from '../command.js';
import { UsageError } from '../errors.js';

/** --reconstruct [--reconstruct-lambda auto|L] [--holdout F] [--reconstruct-search walk|grid] -> the pipeline's request, or undefined without --reconstruct. */
export function parseReconstruction(values: OptionValues, samples: number): ReconstructRequest | undefined {
  const lambdaRaw = stringOption(values, 'reconstruct-lambda');
  const holdoutRaw = stringOption(values, 'holdout');
  const searchRaw = stringOption(values, 'reconstruct-search');
  if (!booleanOption(values, 'reconstruct')) {
    const given = [lambdaRaw !== undefined && '--reconstruct-lambda', holdoutRaw !== undefined && '--holdout', searchRaw !== undefined && '--reconstruct-search'].filter((g): g is string => Boolean(g));
    const listed = given.length > 1 ? `${given.slice(0, -1).join(', ')} and ${given.at(-1)}` : given[0];
    if (given.length) throw new UsageError(`${listed} set${given.length === 1 ? 's' : ''} up --reconstruct: add --reconstruct, or leave ${given.length === 1 ? 'it' : 'them'} out`);
    return undefined;
  }
  let lambda: 'auto' | number = DEFAULTS.reconstruction.lambda;
  if (lambdaRaw !== undefined) {
    const v = lambdaRaw.trim().toLowerCase();
    if (v === 'auto') lambda = 'auto';
    else {
      const n = Number(v);
      if (v === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--reconstruct-lambda ${lambdaRaw}: give "auto" or a number >= 0 (e.g. 0.01, relative to the kept inputs' mean variance)`);
      lambda = n;
    }
  }
  let holdout: number = DEFAULTS.reconstruction.holdout;
  if (holdoutRaw !== undefined) {
    holdout = Number(holdoutRaw);
    if (!(holdout > 0 && holdout < 1)) throw new UsageError(`--holdout ${holdoutRaw}: give a fraction of the calibration samples in (0, 1), e.g. 0.125`);
    if (lambda !== 'auto') throw new UsageError('--holdout chooses the ridge of --reconstruct-lambda auto; with a fixed --reconstruct-lambda every sample is used for the fit: leave --holdout out');
  }
  const held = lambda === 'auto' ? Math.max(1, Math.round(holdout * samples)) : 0;
  if (held >= samples) throw new UsageError(`--holdout ${holdout} of ${samples} calibration samples leaves none to fit: use more --samples or a smaller --holdout`);
  if (searchRaw === undefined) return { lambda, holdout };
  const search = RIDGE_SEARCHES.find((s) => s === searchRaw.trim().toLowerCase());
  if (!search) throw new UsageError(`--reconstruct-search ${searchRaw}: give ${RIDGE_SEARCHES.join(' or ')}`);
  if (lambda !== 'auto') throw new UsageError('--reconstruct-search chooses how --reconstruct-lambda auto tries its ridges; with a fixed --reconstruct-lambda there is no choice: leave --reconstruct-search out');
  return { lambda, holdout, search };
}
