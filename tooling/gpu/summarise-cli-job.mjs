// One line per `cli prune-llm` job of quality-jobs.sh: its pruned perplexities, the removed fraction and, when the
// job ran them, the task average. Plain Node (runs on the GPU host with the kit's binary), no dependencies.
//   node tooling/gpu/summarise-cli-job.mjs JOB_DIR   (JOB_DIR holds prune.json and maybe tasks.json)
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const read = (f) => (existsSync(join(dir, f)) ? JSON.parse(readFileSync(join(dir, f), 'utf8')) : undefined);
const fmt = (x) => (typeof x === 'number' ? x.toFixed(2) : '-');
try {
  const prune = read('prune.json');
  if (!prune?.ok) {
    console.log(`failed: ${prune?.error?.message ?? 'no result'}`);
  } else {
    const r = prune.result;
    const ppl = r.eval?.pruned?.perplexity ?? {};
    const tasks = read('tasks.json')?.result?.results;
    const avg = tasks?.average?.primary;
    console.log(
      `removed ${fmt(100 * (r.plan?.notes?.achievedRatio ?? NaN))} %: ` +
        Object.entries(ppl).map(([k, v]) => `${k} ${fmt(v)}`).join(', ') +
        (avg !== undefined ? `; task average ${fmt(100 * avg)}` : ''),
    );
  }
} catch (e) {
  console.log(`unreadable results in ${dir}: ${e.message}`);
}
