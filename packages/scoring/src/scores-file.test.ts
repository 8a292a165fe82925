/** Scores files are checked on read: a damaged one never makes a plan. */
import { describe, expect, it } from 'vitest';
import { SCORES_FORMAT, parseScores } from './scores-file.js';
import { StatisticsMismatchError } from './errors.js';

const good = () => ({
  format: SCORES_FORMAT,
  model: { fingerprint: 'f', numLayers: 1, hiddenSize: 8, numHeads: [2], numKvHeads: [2], headDim: [4], intermediateSize: [3] },
  statistics: { format: 'llm-bip.statistics/v1', tokens: 1, rows: 1, seqLen: 1, taps: {} },
  scores: { criterion: 'magnitude', headGranularity: 'head', layers: [{ layer: 0, heads: [1, 2], channels: [0.5, 0.1, 0.2] }] },
});

describe('parseScores', () => {
  it('accepts a well-formed file', () => {
    expect(parseScores(good()).scores.layers).toHaveLength(1);
  });

  it('a file without "scores" is a clear error, not a TypeError', () => {
    const { scores: _s, ...rest } = good();
    expect(() => parseScores(rest, 's.json')).toThrow(StatisticsMismatchError);
    expect(() => parseScores(rest, 's.json')).toThrow(/s.json: has no "scores" object/);
  });

  it.each([
    ['null', null],
    ['a string', '1.5'],
  ])('a score that is %s is refused, naming the entry', (_, v) => {
    const s = good();
    (s.scores.layers[0]!.heads as unknown[])[1] = v;
    expect(() => parseScores(s, 's.json')).toThrow(/"scores.layers\[0\].heads\[1\]" is .*, not a finite number/);
  });

  it('a score list of the wrong length is refused', () => {
    const s = good();
    s.scores.layers[0]!.channels = [1];
    expect(() => parseScores(s, 's.json')).toThrow(/channels" must be null or a list of 3 numbers/);
  });
});
