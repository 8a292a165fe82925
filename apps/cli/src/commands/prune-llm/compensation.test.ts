import { describe, expect, it } from 'vitest';
import { UsageError } from '../../errors.js';
import { compensationWanted } from './index.js';

describe('prune-llm bias compensation flag', () => {
  it('is on by default and with --compensate', () => {
    expect(compensationWanted({})).toBe(true);
    expect(compensationWanted({ compensate: true })).toBe(true);
  });
  it('--no-compensate turns it off', () => {
    expect(compensationWanted({ 'no-compensate': true })).toBe(false);
  });
  it('both flags together are a usage error naming both', () => {
    expect(() => compensationWanted({ compensate: true, 'no-compensate': true })).toThrow(UsageError);
    expect(() => compensationWanted({ compensate: true, 'no-compensate': true })).toThrow(/--compensate and --no-compensate/);
  });
});
