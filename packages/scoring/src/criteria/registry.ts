/**
 * Criterion registry: name -> criterion. A new criterion is one file plus one line here
 * (or `registerCriterion` at run time, for plug-ins outside this package).
 */
import { UnknownCriterionError } from '../errors.js';
import type { Criterion } from '../types.js';
import { flap } from './flap.js';
import { llmBip } from './llm-bip.js';
import { magnitude } from './magnitude.js';
import { random } from './random.js';
import { wandaSp } from './wanda-sp.js';

const registry = new Map<string, Criterion>();

export function registerCriterion(c: Criterion): void {
  if (registry.has(c.name)) throw new RangeError(`a criterion named "${c.name}" is already registered`);
  registry.set(c.name, c);
}

export function getCriterion(name: string): Criterion {
  const c = registry.get(name);
  if (!c) throw new UnknownCriterionError(`unknown criterion "${name}": choose one of ${listCriteria().map((x) => x.name).join(', ')}`);
  return c;
}

export function listCriteria(): Criterion[] {
  return [...registry.values()];
}

for (const c of [llmBip, wandaSp, flap, magnitude, random]) registerCriterion(c);
