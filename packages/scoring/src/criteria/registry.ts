/**
 * Criterion registry: name -> criterion. A new criterion is one file plus one line here, or
 * `registerCriterion` at run time (`loadCriterionPlugin` for a module file: the CLI's --plugin).
 * What the registry knows (names, options, help) is all the CLI needs to offer a criterion.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ScoringError, UnknownCriterionError } from '../errors.js';
import type { Criterion, CriterionOption } from '../types.js';
import { flap } from './flap.js';
import { llmBip } from './llm-bip.js';
import { magnitude } from './magnitude.js';
import { random } from './random.js';
import { wandaSp } from './wanda-sp.js';

const registry = new Map<string, Criterion>();
const builtins = new Set<string>();

export function registerCriterion(c: Criterion): void {
  checkCriterion(c);
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

for (const c of [llmBip, wandaSp, flap, magnitude, random]) {
  registerCriterion(c);
  builtins.add(c.name);
}

function checkCriterion(c: Criterion): void {
  const where = `criterion "${String(c?.name)}"`;
  if (!c || typeof c.name !== 'string' || !c.name || typeof c.taps !== 'function' || typeof c.score !== 'function') {
    throw new ScoringError(`${where} is not a criterion: it needs name, description, taps(spec) and score(stats, weights, spec)`);
  }
  const seen = new Set<string>();
  for (const o of c.options ?? []) {
    if (!/^[a-z][a-zA-Z0-9]*$/.test(o.name)) throw new ScoringError(`${where}: option name "${o.name}" must be camelCase (its CLI flag is the kebab-case of it)`);
    if (seen.has(o.name)) throw new ScoringError(`${where} declares option "${o.name}" twice`);
    seen.add(o.name);
    if (o.default !== undefined) checkValue(c, o, o.default);
  }
}

/** The CLI flag of an option: headTerm -> head-term. */
export function criterionOptionFlag(name: string): string {
  return name.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);
}

function checkValue(c: Criterion, o: CriterionOption, v: unknown): void {
  const bad = (expected: string) =>
    new ScoringError(`criterion "${c.name}": option ${o.name} = ${JSON.stringify(v)}: expected ${expected}`);
  switch (o.type) {
    case 'string':
      if (typeof v !== 'string') throw bad('a string');
      if (o.choices && !o.choices.includes(v)) throw bad(`one of ${o.choices.join(', ')}`);
      return;
    case 'integer':
      if (!Number.isInteger(v)) throw bad('a whole number');
      return;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw bad('a number');
      return;
    case 'boolean':
      if (typeof v !== 'boolean') throw bad('true or false');
      return;
    case 'object':
      if (v === null || typeof v !== 'object') throw bad('an object');
  }
}

/** An option's value from its command-line text (strings stay strings; checked like any value). */
export function parseCriterionOption(c: Criterion, o: CriterionOption, raw: string): unknown {
  const v = o.type === 'integer' || o.type === 'number' ? (raw.trim() === '' ? Number.NaN : Number(raw)) : o.type === 'boolean' ? (raw === 'true' ? true : raw === 'false' ? false : raw) : raw;
  checkValue(c, o, v);
  return v;
}

/** The criteria that declare an option of this name (for "--x applies to criterion y" messages). */
export function criteriaDeclaring(option: string): Criterion[] {
  return listCriteria().filter((c) => (c.options ?? []).some((o) => o.name === option));
}

/**
 * The options `taps` and `score` get: the given ones checked against the criterion's declarations
 * (an undeclared one is an error that names the criteria that do declare it), defaults filled in,
 * `defaultFrom: 'seed'` from the run's calibration seed.
 */
export function resolveCriterionOptions(c: Criterion, given: Record<string, unknown> | undefined, run: { seed: number }): Record<string, unknown> {
  const declared = new Map((c.options ?? []).map((o) => [o.name, o]));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(given ?? {})) {
    if (v === undefined) continue;
    const o = declared.get(k);
    if (!o) {
      const others = criteriaDeclaring(k).map((x) => x.name);
      throw new ScoringError(
        `criterion "${c.name}" has no option ${k}${others.length ? `: it belongs to ${others.map((n) => `"${n}"`).join(', ')}` : ''}${c.options?.length ? ` (its options: ${c.options.map((x) => x.name).join(', ')})` : ' (it takes none)'}`,
      );
    }
    checkValue(c, o, v);
    out[k] = v;
  }
  for (const o of c.options ?? []) {
    if (out[o.name] !== undefined) continue;
    if (o.defaultFrom === 'seed') out[o.name] = run.seed;
    else if (o.default !== undefined) out[o.name] = o.default;
  }
  return out;
}

/**
 * Load a criterion module (a .js / .mjs file; .ts under a TypeScript loader such as tsx) and register
 * what it exports: the default export, or the export named `criterion` (one) or `criteria` (a list).
 * Loading the same module again is a no-op; a name already taken (a built-in or another module's) is an error.
 */
export async function loadCriterionPlugin(path: string, cwd = process.cwd()): Promise<Criterion[]> {
  const file = resolve(cwd, path);
  if (!existsSync(file)) throw new ScoringError(`criterion plug-in ${path} does not exist: give the path of a .js / .mjs module that exports a criterion`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    throw new ScoringError(`criterion plug-in ${path} could not be loaded: ${(e as Error).message.split('\n')[0]}`);
  }
  const found = [mod.default, mod.criterion, ...(Array.isArray(mod.criteria) ? mod.criteria : [])].filter((x): x is Criterion => !!x && typeof x === 'object');
  const criteria = [...new Set(found)];
  if (!criteria.length) {
    throw new ScoringError(`criterion plug-in ${path} exports no criterion: export it as default, as \`criterion\`, or a list as \`criteria\` (see @llm-bip/scoring's README, "Adding a criterion")`);
  }
  for (const c of criteria) {
    const existing = registry.get(c?.name);
    if (existing === c) continue;
    if (existing) {
      throw new ScoringError(
        `criterion plug-in ${path}: the name "${c.name}" is taken by ${builtins.has(c.name) ? 'a built-in criterion' : 'a criterion loaded before'}; rename yours`,
      );
    }
    registerCriterion(c);
  }
  return criteria;
}
