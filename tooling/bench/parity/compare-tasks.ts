/**
 * Issue-3 parity on 50 items per task: our per-choice log-likelihoods (fp32 export, CPU EP) against
 * the PyTorch reference JSON made on the GPU machine (tooling/references/torch-eval.*.json).
 *   node --conditions=source --import tsx tooling/bench/parity/compare-tasks.ts HF_DIR REFERENCE.json
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateTasks, loadTokenizer, taskNames } from '@llm-bip/eval';
import { exportLlamaToOnnx } from '@llm-bip/model';
import { createSession } from '@llm-bip/runtime';
import { shared } from '@llm-bip/testing';

const [hfDir, refPath] = process.argv.slice(2);
if (!hfDir || !refPath) throw new Error('usage: compare-tasks.ts HF_DIR REFERENCE.json');
const ref = JSON.parse(readFileSync(refPath, 'utf8')) as {
  config: { items: number };
  tasks: Record<string, { acc: number; acc_norm: number; log: Array<{ id: string; lls: number[] }> }>;
};
const dir = mkdtempSync(join(tmpdir(), 'llm-bip-parity-'));
try {
  const onnx = join(dir, 'model.onnx');
  await exportLlamaToOnnx(hfDir, onnx, { dtype: 'float32', kvCache: false });
  const session = await createSession(onnx, { ep: 'cpu' });
  const ours = await evaluateTasks(session, loadTokenizer(hfDir), { tasksDir: shared('data/tasks'), limit: ref.config.items, logSamples: true });
  await session.release();
  for (const task of taskNames) {
    const mine = ours.results[task]!;
    const theirs = ref.tasks[task]!;
    let worst = 0;
    mine.log!.forEach((s, i) => {
      if (s.id !== theirs.log[i]!.id) throw new Error(`${task}: item ${i} is ${s.id} here, ${theirs.log[i]!.id} in the reference`);
      s.lls.forEach((ll, c) => (worst = Math.max(worst, Math.abs(ll - theirs.log[i]!.lls[c]!))));
    });
    const same = mine.acc === theirs.acc && mine.acc_norm === theirs.acc_norm;
    console.log(`${task.padEnd(14)} items ${mine.samples}  worst |ll diff| ${worst.toExponential(2)}  acc ${mine.acc.toFixed(2)} / acc_norm ${mine.acc_norm.toFixed(2)} ${same ? '(= PyTorch)' : `(PyTorch ${theirs.acc} / ${theirs.acc_norm})`}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
