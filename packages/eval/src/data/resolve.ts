/**
 * Where each dataset is read from: the one resolver that perplexity, the tasks and calibration use.
 * Folders are searched in order (`--data` alone when given; else `$LLM_BIP_DATA`, the fetched-data cache, the
 * development copy beside the checkout) and a set comes from the first folder that holds it whole, in the Hub's layout
 * (what `llm-bip data fetch` writes) or the development copy's.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError } from '../errors.js';
import { dataSet, isDataSetName, type DataSetName } from './catalogue.js';
import { dataCacheDir } from './user-cache.js';

export type DataRootKind = 'option' | 'env' | 'cache' | 'dev' | 'given';

export interface DataRoot {
  dir: string;
  /** how it was chosen: --data, $LLM_BIP_DATA, the cache, the development copy, or a folder a caller passed */
  kind: DataRootKind;
}

/** A data folder, or the folders to search in order. */
export type DataLocation = string | readonly DataRoot[];

const kindText: Record<DataRootKind, string> = {
  option: '--data',
  env: '$LLM_BIP_DATA',
  cache: 'the data cache',
  dev: 'the development copy',
  given: 'the data folder',
};

/**
 * The search order: `--data DIR`, `$LLM_BIP_DATA`, the cache (`llm-bip data fetch`), then the development
 * copy. `--data` is a choice made for this one command, so it is the only folder searched: a set missing
 * there is an error naming it, never a quiet fallback to other data.
 */
export function dataRoots(opts: { option?: string | undefined; env: NodeJS.ProcessEnv; devDir?: string | undefined }): DataRoot[] {
  if (opts.option) return [{ dir: opts.option, kind: 'option' }];
  const roots: DataRoot[] = [];
  if (opts.env.LLM_BIP_DATA) roots.push({ dir: opts.env.LLM_BIP_DATA, kind: 'env' });
  roots.push({ dir: dataCacheDir(opts.env), kind: 'cache' });
  if (opts.devDir) roots.push({ dir: opts.devDir, kind: 'dev' });
  return roots;
}

export function rootsOf(location: DataLocation): readonly DataRoot[] {
  return typeof location === 'string' ? [{ dir: location, kind: 'given' }] : location;
}

export interface ResolvedDataSet {
  name: DataSetName;
  root: DataRoot;
  /** the files of the layout found, absolute, in the catalogue's order (the first is the one a reader opens) */
  files: string[];
  layout: 'hub' | 'local';
}

function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}

/** The set's files in one folder, if that folder holds it whole (Hub layout first: it is what fetch verified). */
export function findDataSetIn(name: DataSetName, dir: string): { files: string[]; layout: 'hub' | 'local' } | undefined {
  const spec = dataSet(name);
  const layouts: { files: string[]; layout: 'hub' | 'local' }[] = [
    { files: spec.hub.map((f) => f.path), layout: 'hub' },
    ...spec.local.map((files) => ({ files, layout: 'local' as const })),
  ];
  for (const l of layouts) {
    const files = l.files.map((f) => join(dir, f));
    if (files.every(isFile)) return { files, layout: l.layout };
  }
  return undefined;
}

/** The first folder holding the set, or undefined. */
export function resolveDataSet(name: DataSetName, location: DataLocation): ResolvedDataSet | undefined {
  for (const root of rootsOf(location)) {
    const found = findDataSetIn(name, root.dir);
    if (found) return { name, root, ...found };
  }
  return undefined;
}

/** Every named set, or one DatasetError that names all the missing ones, where it looked, and the command that fetches them. */
export function requireDataSets(names: readonly string[], location: DataLocation): Map<DataSetName, ResolvedDataSet> {
  const unknown = names.filter((n) => !isDataSetName(n));
  if (unknown.length) throw new DatasetError(`unknown dataset ${unknown.map((n) => `"${n}"`).join(', ')}`);
  const found = new Map<DataSetName, ResolvedDataSet>();
  const missing: DataSetName[] = [];
  for (const n of new Set(names as DataSetName[])) {
    const r = resolveDataSet(n, location);
    if (r) found.set(n, r);
    else missing.push(n);
  }
  if (missing.length) throw new DatasetError(missingDataMessage(missing, location));
  return found;
}

export function missingDataMessage(missing: readonly DataSetName[], location: DataLocation): string {
  const looked = rootsOf(location)
    .map((r) => `${r.dir} (${kindText[r.kind]})`)
    .join(', ');
  return (
    `dataset${missing.length > 1 ? 's' : ''} not found: ${missing.join(', ')} (looked in ${looked}). ` +
    `Fetch ${missing.length > 1 ? 'them' : 'it'} with \`llm-bip data fetch ${missing.join(' ')}\` (on a connected machine; the cache can then be copied), ` +
    'or pass --data DIR / set $LLM_BIP_DATA to a folder that holds them'
  );
}

/** One line saying where a set was read from, e.g. "wikitext2: /home/u/.cache/llm-bip/data/... (the data cache)". */
export function describeResolved(r: ResolvedDataSet): string {
  return `${r.name}: ${r.files[0]} (${kindText[r.root.kind]})`;
}
