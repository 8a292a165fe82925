/**
 * How a pipeline step talks back: log lines, warnings, progress bars and cancellation. Every member is
 * optional, so a library caller passes nothing; the CLI passes its command context (same shape).
 */
export interface ProgressTask {
  update(done: number, total?: number): void;
  finish(): void;
}

import type { ProgressCallback } from '@llm-bip/eval';

export interface PipelineHooks {
  log?(line: string): void;
  warn?(line: string): void;
  progress?(opts: { label: string; total?: number; unit?: string }): ProgressTask;
  /** progress of an evaluation or benchmark (its events carry their own labels); `label` prefixes them ("dense ") */
  evalProgress?(label: string): { onProgress: ProgressCallback; finish(): void };
  /** checked between batches and tensors: abort it to stop a long step */
  signal?: AbortSignal;
}

const noTask: ProgressTask = { update: () => {}, finish: () => {} };

/** The hooks with every member filled in (no-ops where the caller gave none). */
export function hooksOf(h: PipelineHooks = {}): Required<Omit<PipelineHooks, 'signal'>> & { check(): void } {
  return {
    evalProgress: (label) => h.evalProgress?.(label) ?? { onProgress: () => h.signal?.throwIfAborted(), finish: () => {} },
    log: (line) => h.log?.(line),
    warn: (line) => h.warn?.(line),
    progress: (opts) => h.progress?.(opts) ?? noTask,
    check: () => h.signal?.throwIfAborted(),
  };
}
