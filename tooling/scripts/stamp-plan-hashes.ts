/**
 * Stamps the plan hashes of a plans-only run (`bench:quality ... --eval none`, same machine, same
 * settings) onto the rows of an older quality run whose planSha256 hashed the whole plan file
 * (paths and dates included), so that `bench:tables` can join its columns with another run's.
 * Used once for bench-results/2026-11-28-small (see its README); newer runs hash the decisions directly.
 *
 *   node --conditions=source --import tsx tooling/scripts/stamp-plan-hashes.ts PLANS.json QUALITY.json
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { saveAtomic } from '../bench/steps.js';
import type { QualityResults } from '../bench/quality.js';

const [plansFile, qualityFile] = process.argv.slice(2);
if (!plansFile || !qualityFile) throw new Error('usage: stamp-plan-hashes.ts PLANS.json QUALITY.json');
const plans = JSON.parse(readFileSync(plansFile, 'utf8')) as QualityResults;
const quality = JSON.parse(readFileSync(qualityFile, 'utf8')) as QualityResults & { planHashesFrom?: string };
const key = (r: { method: string; ratio: number; seed: number }) => `${r.method}|${r.ratio}|${r.seed}`;
const hashes = new Map(plans.rows.map((r) => [key(r), r.planSha256]));
let stamped = 0;
for (const row of quality.rows) {
  const h = hashes.get(key(row));
  if (h === undefined) throw new Error(`${qualityFile}: no plan for ${key(row)} in ${plansFile}`);
  row.planSha256 = h;
  stamped++;
}
quality.planHashesFrom = basename(plansFile);
saveAtomic(qualityFile, quality);
process.stderr.write(`${qualityFile}: ${stamped} rows stamped from ${plansFile}\n`);
