/**
 * Refit projections handed to surgery: per (layer, block), the kept inputs, the refit weights of those
 * inputs and the bias. Surgery adds the bias where compensation would go and writes the refit weights
 * in place of the sliced ones while it streams the tensors (prune.ts), so a 7B model is never whole in
 * memory. The store keeps each refit weight in float32 (what is written) and, given a folder, spills
 * it to one scratch file there as soon as it is added: the solve of one layer at a time then holds
 * one layer in memory.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SurgeryError } from '../errors.js';
import type { Block } from '../edits.js';
import type { ProjectionFit } from './solve.js';

export interface ReconstructedProjection {
  layer: number;
  block: Block;
  /** kept input indices of the projection, ascending: must be the inputs the plan keeps */
  keep: number[];
  /** added after the projection (into its bias when it has one) */
  bias: Float64Array;
  /** output features */
  outFeatures: number;
  /** W'_S in the [in][out] layout: [keep.length][outFeatures], row-major */
  weight(): Float32Array;
}

/** What surgery reads: the refit projection of (layer, block), and a summary for the pruning record. */
export interface Reconstruction {
  projection(layer: number, block: Block): ReconstructedProjection | undefined;
  /** how it was made (method, ridge, held-out rows, per-projection choices): copied into the record */
  summary(): Record<string, unknown>;
}

export interface StoreOptions {
  /** spill refit weights to a scratch file in this folder (removed by `dispose`) */
  spillDir?: string;
  /** recorded in the summary */
  summary?: Record<string, unknown>;
}

type Entry = Omit<ReconstructedProjection, 'weight'> & { data?: Float32Array; offset?: number; alpha: number; lambda: number; extra?: Record<string, unknown> };

export class ReconstructionStore implements Reconstruction {
  private readonly entries = new Map<string, Entry>();
  private readonly dir?: string;
  private fd?: number;
  private bytes = 0;

  constructor(private readonly opts: StoreOptions = {}) {
    if (opts.spillDir) this.dir = mkdtempSync(join(opts.spillDir, '.llm-bip-reconstruction-'));
  }

  /** Keep a fit (its weight goes to the scratch file at once when spilling). `extra` goes to the summary. */
  add(layer: number, block: Block, fit: ProjectionFit, extra?: Record<string, unknown>): void {
    const k = fit.keep.length;
    const outFeatures = k > 0 ? fit.weight.length / k : fit.bias.length;
    if (fit.bias.length !== outFeatures || fit.weight.length !== k * outFeatures) throw new SurgeryError(`layer ${layer} ${block}: fit has ${fit.weight.length} weights and ${fit.bias.length} biases for ${k} kept inputs`);
    const data = Float32Array.from(fit.weight);
    const entry: Entry = { layer, block, keep: fit.keep, bias: fit.bias, outFeatures, alpha: fit.alpha, lambda: fit.lambda, ...(extra ? { extra } : {}) };
    if (this.dir) {
      this.fd ??= openSync(join(this.dir, 'weights.f32'), 'w+');
      entry.offset = this.bytes;
      writeAll(this.fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.bytes);
      this.bytes += data.byteLength;
    } else {
      entry.data = data;
    }
    this.entries.set(key(layer, block), entry);
  }

  projection(layer: number, block: Block): ReconstructedProjection | undefined {
    const e = this.entries.get(key(layer, block));
    if (!e) return undefined;
    return {
      layer: e.layer,
      block: e.block,
      keep: e.keep,
      bias: e.bias,
      outFeatures: e.outFeatures,
      weight: () => {
        if (e.data) return e.data;
        const out = new Float32Array(e.keep.length * e.outFeatures);
        readAll(this.fd!, new Uint8Array(out.buffer), e.offset!);
        return out;
      },
    };
  }

  summary(): Record<string, unknown> {
    const projections = [...this.entries.values()]
      .sort((a, b) => a.layer - b.layer || a.block.localeCompare(b.block))
      .map((e) => ({ layer: e.layer, block: e.block, kept: e.keep.length, alpha: e.alpha === Infinity ? 'mean' : e.alpha, ...e.extra }));
    return { ...this.opts.summary, projections };
  }

  /** Remove the scratch file (when spilling). */
  dispose(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function key(layer: number, block: Block): string {
  return `${layer}:${block}`;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function readAll(fd: number, into: Uint8Array, position: number): void {
  for (let done = 0; done < into.length; ) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new SurgeryError('the reconstruction scratch file ended early: it was changed or removed while surgery ran');
    done += n;
  }
}
