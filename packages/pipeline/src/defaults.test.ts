/** The defaults that are decisions (resolveAlign), checked on model shapes of both sides of the rule. */
import { describe, expect, it } from 'vitest';
import { AUTO_ALIGN, DEFAULTS, resolveAlign } from './defaults.js';

describe('resolveAlign', () => {
  it("'auto' aligns to 64 only when every FFN is at least 1,024 wide", () => {
    expect(DEFAULTS.align).toBe('auto');
    // LLaMA-2-7B, Llama-3-8B, bip-llama-small: every layer wide enough
    expect(resolveAlign('auto', { intermediateSize: Array(32).fill(11008) })).toBe(AUTO_ALIGN.multiple);
    expect(resolveAlign('auto', { intermediateSize: [14336, 14336] })).toBe(64);
    expect(resolveAlign('auto', { intermediateSize: [1408, 1408, 1408] })).toBe(64);
    expect(resolveAlign('auto', { intermediateSize: [1024] })).toBe(64);
    // bip-llama-tiny (704), the unit-test models, and a model with one narrow layer: no alignment
    expect(resolveAlign('auto', { intermediateSize: [704, 704] })).toBe(1);
    expect(resolveAlign('auto', { intermediateSize: [48, 48, 48] })).toBe(1);
    expect(resolveAlign('auto', { intermediateSize: [11008, 1023] })).toBe(1);
    expect(resolveAlign('auto', { intermediateSize: [] })).toBe(1);
  });

  it('a number is used as given, whatever the widths', () => {
    expect(resolveAlign(1, { intermediateSize: [11008] })).toBe(1);
    expect(resolveAlign(8, { intermediateSize: [48] })).toBe(8);
    expect(resolveAlign(128, { intermediateSize: [11008] })).toBe(128);
  });
});
