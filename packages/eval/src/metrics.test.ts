import { describe, expect, it } from 'vitest';
import { argmax, charLength, meanStderr, scoreItem, utf8Length } from './metrics.js';
import type { TaskItem } from './tasks/types.js';

const item = (choices: string[], gold: number): TaskItem => ({ id: 'x', choices, gold, requests: choices.map((c) => ({ context: 'q', continuation: ` ${c}` })) });

describe('multiple-choice metrics', () => {
  it('lengths are Python len() (code points) and UTF-8 bytes', () => {
    expect(charLength('naïve')).toBe(5);
    expect(utf8Length('naïve')).toBe(6);
    expect(charLength('日本')).toBe(2);
    expect(utf8Length('日本')).toBe(6);
    expect(charLength('😀')).toBe(1); // one code point, two UTF-16 units
    expect(utf8Length('😀')).toBe(4);
  });

  it('acc_norm divides by characters, acc_bytes by UTF-8 bytes (multi-byte choices separate them)', () => {
    // choice 0: 4 chars / 12 bytes; choice 1: 6 chars / 6 bytes
    const it0 = item(['日本語!', 'abcdef'], 0);
    const lls = [-4.4, -6];
    // acc: argmax(-4.4, -6) = 0; per char: -1.1 vs -1.0 -> 1; per byte: -0.367 vs -1.0 -> 0
    expect(scoreItem(it0, lls)).toEqual({ acc: 1, acc_norm: 0, acc_bytes: 1, pred: 0 });
    expect(scoreItem(item(['日本語!', 'abcdef'], 1), lls)).toEqual({ acc: 0, acc_norm: 1, acc_bytes: 0, pred: 0 });
  });

  it('ties go to the first choice (np.argmax)', () => {
    expect(argmax([-1, -1, -2])).toBe(0);
    expect(argmax([-3, -1, -1])).toBe(1);
  });

  it('stderr is sqrt(sample variance / n)', () => {
    const { mean, stderr } = meanStderr([1, 0, 1, 1]);
    expect(mean).toBe(0.75);
    // sample variance = (3 * 0.0625 + 0.5625) / 3 = 0.25
    expect(stderr).toBeCloseTo(Math.sqrt(0.25 / 4), 12);
  });
});
