/** Adapt the eval package's progress events to CLI progress bars (one bar per step), and honour Ctrl-C. */
import type { ProgressEvent } from '@llm-bip/eval';
import type { CommandContext } from '../command.js';
import { formatRate, type ProgressTask } from '../progress.js';

export function evalProgress(ctx: CommandContext, prefix = ''): { onProgress: (e: ProgressEvent) => void; finish: () => void } {
  const bars = new Map<string, ProgressTask>();
  // a step's bar appears at its first callback, after its first batch: date it from the previous step's end
  let stepStart = performance.now();
  return {
    onProgress: (e) => {
      // the packages call back between batches: the place to stop on Ctrl-C
      ctx.signal.throwIfAborted();
      const key = `${e.phase}:${e.name}`;
      let bar = bars.get(key);
      if (!bar) {
        bar = ctx.progress({ label: `${prefix}${e.phase} ${e.name}`, total: e.total, unit: e.unit, startedAt: stepStart });
        bars.set(key, bar);
      }
      bar.update(e.done, e.total, Number.isFinite(e.tokensPerSec) && e.tokensPerSec > 0 ? `${formatRate(e.tokensPerSec)} tok/s` : undefined);
      if (e.done >= e.total) {
        bar.finish();
        stepStart = performance.now();
      }
    },
    finish: () => {
      for (const b of bars.values()) b.finish();
    },
  };
}
