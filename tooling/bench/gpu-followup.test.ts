import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { followupTables, parseStep, readOutput, stepLine, widthsNote } from './gpu-followup.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'f13-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const rec = (stage: string, exit = 0, seconds = 10, gpu: number | null = 4000) => ({ stage, command: 'x', exit, seconds, peak_rss_mib: 1500, peak_gpu_mib: gpu, gpu_baseline_mib: gpu === null ? null : 0 });
const ok = (command: string, result: unknown) => JSON.stringify({ ok: true, command, result }, null, 2);
const evalOut = (tps: number, ppl = 100) => ok('eval', { results: {}, details: { perplexity: { wikitext2: { tokensPerSec: tps, windows: 2850, ppl } } } });
const bench = (prefill: number, decode: number) => ok('bench', { ep: 'cuda', loadMs: 900, prefill: [{ batch: 1, seq: 128, tokensPerSec: prefill }], decode: { tokensPerSec: decode, msPerStep: 1000 / decode } });
const segment = (name: string, estimated: number, measured?: number) => ({
  segment: name,
  weightBytes: 4e8,
  activationBytes: 5e8,
  reserveBytes: 1.5e9,
  overheadBytes: 2 ** 30,
  estimatedBytes: estimated,
  ...(measured !== undefined ? { measuredBytes: measured } : {}),
});

function write(records: object[], files: Record<string, string>): void {
  writeFileSync(join(dir, 'stages.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
}

describe('gpu-followup records', () => {
  it('reads output files with or without the measure record line older runs appended, and not a cut-off one', () => {
    write([], {
      'old.json': `${ok('bench', { a: 1 })}\n{"stage": "bench-dense", "exit": 0}\n`,
      'new.json': ok('bench', { a: 2 }),
      'cut.json': '{\n  "ok": true,\n  "resu',
    });
    expect(readOutput(dir, 'old.json')?.result).toEqual({ a: 1 });
    expect(readOutput(dir, 'new.json')?.result).toEqual({ a: 2 });
    expect(readOutput(dir, 'cut.json')).toBeUndefined();
    expect(readOutput(dir, 'absent.json')).toBeUndefined();
  });

  it('splits a step name at its first dot: the tag keeps its own dots', () => {
    expect(parseStep('eval-a64-r2.llama2-7b-l4')).toEqual({ kind: 'eval-a64-r2', tag: 'llama2-7b-l4' });
    expect(parseStep('score-1.5GB.my.model')).toEqual({ kind: 'score-1', tag: '5GB.my.model' });
    expect(parseStep('setup-cuda')).toEqual({ kind: 'setup-cuda', tag: '' });
  });

  it('counts FFN widths that are multiples of 8 and of 64', () => {
    expect(widthsNote([{ channels: 8806 }, { channels: 8832 }, { channels: 8808 }])).toBe('8,806–8,832 (x8: 2/3, x64: 1/3)');
    expect(widthsNote([{ channels: 704 }, { channels: 704 }])).toBe('704 (x8: 2/2, x64: 2/2)');
    expect(widthsNote(undefined)).toBe('–');
  });

  it('a summary line per step: the measure record, a stop by the time limit, the segments measured against their estimates', () => {
    const scoring = { mode: 'blockwise', reason: 'r', batchSize: 6, ep: 'cuda', estimatedPeakBytes: 3.74e9, segments: [segment('embedding', 1.39e9, 1.5e9), segment('blocks 0-0', 3.74e9, 2.99e9)], seconds: { calibration: 8.2, criterion: 1.3 } };
    write([rec('score-4GB.t'), rec('eval-a1-r1.t', 124, 90)], { 'score-4GB.t.json': ok('score', { scoring }), 'eval-a1-r1.t.json': '' });
    expect(stepLine(dir, 'score-4GB.t')).toBe(
      '[f13] score-4GB.t: exit 0, 10.0 s, RSS 1,500 MiB, GPU 4,000 MiB | 2 segments, batch 6, estimated peak 3.74 GB, measured / estimate 0.80–1.08; calibration 8.2 s, criterion 1.3 s',
    );
    expect(stepLine(dir, 'eval-a1-r1.t')).toContain('exit 124 (stopped: its time limit), 90.0 s');
    expect(stepLine(dir, 'eval-a1-r1.t')).toContain('| no JSON output');
    expect(stepLine(dir, 'bench-dense.t')).toBe('[f13] bench-dense.t: not run');
  });

  it('summary lines of the memory, solve and prune-llm steps, from the outputs those tools print', () => {
    const mem = { ep: 'cuda', results: [{ op: 'Gather', rows: 128256, opt: 'all', variant: 'device', tableMiB: 1002, ranOverBeforeMiB: 1140 }, { op: 'Gather', rows: 128256, opt: 'disabled', tableMiB: 1002, ranOverBeforeMiB: 2176 }] };
    const solve = { n: 4096, keep: 3277, m: 4096, backends: { ort: { build: { wallS: 0.34 }, fit: { wallS: 4.54 }, choice: { wallS: 6.5 } }, cuda: { build: { wallS: 0.42 }, fit: { wallS: 3.96 }, choice: { wallS: 5.53 } } }, fitDifference: { 'ort/cuda': 2.2e-16 } };
    const pl = { run: { durationSec: 21.89 }, scoring: { seconds: { calibration: 1.8, criterion: 1.3 } }, eval: { dense: { perplexity: { wikitext2: 71229.365 } }, pruned: { perplexity: { wikitext2: 71075.271 } } }, speed: { dense: { decodeTokensPerSec: 134.27 }, pruned: { decodeTokensPerSec: 166.22 } } };
    write([rec('session-mem'), rec('solve-oproj'), rec('pl.t', 0, 22.3, 8871), rec('pl-rs.t', 124, 293.5)], {
      'session-mem.json': JSON.stringify(mem),
      'solve-oproj.json': JSON.stringify(solve),
      'pl.t.json': ok('prune-llm', pl),
      'pl-rs.t.json': JSON.stringify({ ok: false, command: 'prune-llm', error: { message: 'interrupted (Ctrl-C); partial outputs were removed' } }),
    });
    // a record without its variant is from before the variants: the arena
    expect(stepLine(dir, 'session-mem')).toContain('| device Gather 128,256: 1002 MiB table, +1140 MiB; arena Gather 128,256 (opt disabled): 1002 MiB table, +2176 MiB');
    expect(stepLine(dir, 'solve-oproj')).toContain('| 4096 / 3277 / 4096: build / fit / ridge choice ort 0.34 / 4.54 / 6.50 s, cuda 0.42 / 3.96 / 5.53 s, fits ort/cuda within 2.2e-16');
    expect(stepLine(dir, 'pl.t')).toContain('| 21.9 s inside; scoring 3.1 s; wikitext2 71229.37 -> 71075.27, decode 134.3 -> 166.2 tok/s');
    expect(stepLine(dir, 'pl-rs.t')).toContain('exit 124 (stopped: its time limit), 293.5 s');
    expect(stepLine(dir, 'pl-rs.t')).toContain('| failed: interrupted (Ctrl-C); partial outputs were removed');
  });

  it('tables: estimate vs measured per segment, scoring vs the plain forward, and speed against the same round dense run', () => {
    const costs = {
      tokens: 16384,
      plainTokensPerSecond: 9000,
      scoreOverForward: 1.5,
      phases: [
        { phase: 'scoreModel end to end (collect + llm-bip)', seconds: 2.73 },
        { phase: 'plain model session', seconds: 0.46 },
        { phase: 'plain forward (same batches, logits out)', seconds: 1.82 },
      ],
    };
    const scoring = { mode: 'blockwise', reason: 'exceeds 4.00 GB', batchSize: 6, ep: 'cuda', estimatedPeakBytes: 3.74e9, segments: [segment('embedding', 1.39e9, 1.5e9), segment('blocks 0-0', 3.74e9)] };
    const plan = (w: number[]) => ok('plan', { achievedRatio: 0.2, layers: w.map((channels) => ({ channels })) });
    write(
      [
        rec('score-costs.l4'),
        rec('score-4GB.l4', 0, 30, 5000),
        rec('score-6GB.l4'),
        ...['dense', 'a1', 'a64'].flatMap((m) => [rec(`bench-${m}.l4`), rec(`eval-${m}-r1.l4`), rec(`eval-${m}-r2.l4`)]),
      ],
      {
        'score-costs.l4.result.json': JSON.stringify(costs),
        'score-4GB.l4.json': ok('score', { scoring }),
        'score-6GB.l4.json': ok('score', { scoring: { mode: 'whole', reason: 'the whole probe fits 6.00 GB' } }),
        'plan-a1.l4.json': plan([8806, 8810]),
        'plan-a64.l4.json': plan([8768, 8832]),
        'bench-dense.l4.json': bench(8000, 70),
        'bench-a1.l4.json': bench(10000, 105),
        'bench-a64.l4.json': bench(10000, 112),
        // the box slows down 2x in round 2: the ratio to that round's dense run stays
        'eval-dense-r1.l4.json': evalOut(146000),
        'eval-dense-r2.l4.json': evalOut(73000),
        'eval-a1-r1.l4.json': evalOut(109500),
        'eval-a1-r2.l4.json': evalOut(54750),
        'eval-a64-r1.l4.json': evalOut(175200),
        'eval-a64-r2.l4.json': evalOut(87600),
      },
    );
    const md = followupTables(dir);
    expect(md).toContain('#### l4');
    expect(md).toContain('scoreModel / plain forward **1.50x** (counting the plain session: 1.20x)');
    expect(md).toContain('| embedding | 400.0 MB | 500.0 MB | 1.50 GB | 1.07 GB | 1.39 GB | 1.50 GB | 1.08x |');
    expect(md).toContain('| blocks 0-0 | 400.0 MB | 500.0 MB | 1.50 GB | 1.07 GB | 3.74 GB | – | – |');
    expect(md).toContain("Command's peak GPU (measure.py) 5.24 GB against the largest estimate 3.74 GB");
    expect(md).toContain('`score --max-device-memory 6GB`: ran whole (the whole probe fits 6.00 GB)');
    expect(md).toContain('| pruned 20 % | 8,806–8,810 (x8: 0/2, x64: 0/2) | 10,000 | 105.0 | 9.52 | 1.50x | 900 |');
    expect(md).toContain('| pruned 20 %, --align 64 | 8,768–8,832 (x8: 2/2, x64: 2/2) | 10,000 | 112.0 | 8.93 | 1.60x | 900 |');
    expect(md).toContain('| pruned 20 % | 8,806–8,810 (x8: 0/2, x64: 0/2) | 109,500 / 54,750 | 0.75x | 2,850 | 100.00 |');
    expect(md).toContain('| pruned 20 %, --align 64 | 8,768–8,832 (x8: 2/2, x64: 2/2) | 175,200 / 87,600 | 1.20x | 2,850 | 100.00 |');
  });
});
