/**
 * Device memory one ORT session holds for one large float16 initializer, read by a Gather (an embedding
 * table) or by a MatMul (a projection), measured with nvidia-smi's device-wide memory.used before the
 * session, after its creation, after one run and after its release. Why: block-by-block scoring measured
 * its embedding segment (a Gather over the fp16 table alone) at about twice the table's bytes, while the
 * block segments held their weights once (BENCHMARKS.md "Issue 13 follow-up on the GPU machine"); this
 * separates the initializer's allocation from the op reading it and from the table's size.
 *
 *   node kit/session-memory.mjs --ep cuda [--rows 32000,120000,128256] [--cols 4096] [--variants arena,device,arena+nopattern,device+nopattern] [--json OUT]
 *
 * Measured on CUDA only (nvidia-smi); `--ep cpu` runs the same sessions unmeasured. Each case in its own
 * session, released before the next.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DataType, encodeModel, type ModelProto, type ValueInfoProto } from '@llm-bip/onnx-io';
import { createSession, deviceMemoryUsed, ort, type Feeds, type GraphOptimization, type SessionOptions } from '@llm-bip/runtime';

const { values } = parseArgs({ options: { ep: { type: 'string', default: 'cuda' }, rows: { type: 'string', default: '32000,120000,128256' }, cols: { type: 'string', default: '4096' }, json: { type: 'string' }, variants: { type: 'string', default: 'arena,device' } } });
// other EPs run the same sessions unmeasured (a dry run of the script)
const ep = values.ep === 'cuda' ? 'cuda' : 'cpu';
const cols = Number(values.cols);
const rowsList = values.rows.split(',').map(Number);

function value(name: string, elemType: number, dims: Array<string | number>): ValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } } as ValueInfoProto;
}

/** One fp16 [rows, cols] initializer `w` (Gather: the table; MatMul: its transpose's shape, [cols, rows]). */
function model(op: 'Gather' | 'MatMul', rows: number): ModelProto {
  const dims = op === 'Gather' ? [rows, cols] : [cols, rows];
  const raw = new Uint8Array(rows * cols * 2);
  // small non-zero values: 0x2c00 is fp16 0.0625
  for (let i = 1; i < raw.length; i += 2) raw[i] = 0x2c;
  const node = op === 'Gather' ? { opType: 'Gather', name: 'g', input: ['w', 'ids'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: 0 }] } : { opType: 'MatMul', name: 'm', input: ['x', 'w'], output: ['y'] };
  const input = op === 'Gather' ? [value('ids', DataType.INT64, ['b', 's'])] : [value('x', DataType.FLOAT16, ['b', 's', cols])];
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'llm-bip session-memory bench',
    graph: { name: op, node: [node], input, output: [value('y', DataType.FLOAT16, op === 'Gather' ? ['b', 's', cols] : ['b', 's', rows])], initializer: [{ name: 'w', dims, dataType: DataType.FLOAT16, rawData: raw }] },
  } as unknown as ModelProto;
}

const mib = (b: number | undefined) => (b === undefined ? undefined : Math.round(b / 2 ** 20));
// the session options compared, each named in full (the runtime's defaults change): initializers in ORT's
// arena or allocated exactly by the device allocator, with and without the memory pattern
// (SessionOptions.initializerAllocator, memPattern)
const VARIANTS: Record<string, SessionOptions> = {
  arena: { initializerAllocator: 'arena' },
  device: { initializerAllocator: 'device' },
  'arena+nopattern': { initializerAllocator: 'arena', memPattern: false },
  'device+nopattern': { initializerAllocator: 'device', memPattern: false },
};
const variants = values.variants.split(',');
for (const v of variants) if (!VARIANTS[v]) throw new Error(`--variants: unknown "${v}"; known: ${Object.keys(VARIANTS).join(', ')}`);
const cases: Array<{ op: 'Gather' | 'MatMul'; rows: number; opt: GraphOptimization; variant: string }> = [];
for (const variant of variants) for (const rows of rowsList) for (const op of ['Gather', 'MatMul'] as const) cases.push({ op, rows, opt: 'all', variant });
cases.push({ op: 'Gather', rows: rowsList[rowsList.length - 1]!, opt: 'disabled', variant: variants[0]! });

// a small session held throughout: the CUDA context (and its kernels) are in every case's "before"
const warm = await createSession({ path: 'warm-up', bytes: encodeModel(model('Gather', 16)) }, { ep });
await warm.run({ ids: new ort.Tensor('int64', new BigInt64Array(4), [1, 4]) });
const results = [];
for (const c of cases) {
  const bytes = encodeModel(model(c.op, c.rows));
  const before = deviceMemoryUsed(ep);
  const session = await createSession({ path: `${c.op} ${c.rows}x${cols}`, bytes }, { ep, graphOptimization: c.opt, ...VARIANTS[c.variant] });
  const created = deviceMemoryUsed(ep);
  const feeds: Feeds = c.op === 'Gather' ? { ids: new ort.Tensor('int64', BigInt64Array.from({ length: 8 * 128 }, (_, i) => BigInt(i % c.rows)), [8, 128]) } : { x: new ort.Tensor('float16', new Uint16Array(8 * 128 * cols).fill(0x2c00), [8, 128, cols]) };
  await session.run(feeds);
  const ran = deviceMemoryUsed(ep);
  await session.run(feeds);
  const ran2 = deviceMemoryUsed(ep);
  await session.release();
  const released = deviceMemoryUsed(ep);
  const tableMiB = (c.rows * cols * 2) / 2 ** 20;
  const r = { ...c, cols, tableMiB: Math.round(tableMiB), beforeMiB: mib(before), createdMiB: mib(created), ranMiB: mib(ran), ran2MiB: mib(ran2), releasedMiB: mib(released), createdOverBeforeMiB: mib((created ?? 0) - (before ?? 0)), ranOverBeforeMiB: mib((ran ?? 0) - (before ?? 0)), ran2OverBeforeMiB: mib((ran2 ?? 0) - (before ?? 0)) };
  process.stderr.write(`${c.variant}: ${c.op} ${c.rows} x ${cols} (opt ${c.opt}): table ${r.tableMiB} MiB; session +${r.createdOverBeforeMiB} MiB, after a run +${r.ranOverBeforeMiB} MiB, after two +${r.ran2OverBeforeMiB} MiB, released ${r.releasedMiB} MiB\n`);
  results.push(r);
}
await warm.release();
const out = JSON.stringify({ ep, results, date: new Date().toISOString() }, null, 2);
if (values.json) writeFileSync(values.json, `${out}\n`);
process.stdout.write(`${out}\n`);
