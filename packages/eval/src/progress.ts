/** Progress of a long evaluation step, for the CLI to draw bars (stderr) or ignore. */
export interface ProgressEvent {
  /** 'perplexity', 'task' or 'speed'. */
  phase: 'perplexity' | 'task' | 'speed';
  /** Dataset / task / grid point being worked on. */
  name: string;
  done: number;
  total: number;
  /** Unit of done/total: 'windows', 'requests', 'runs'. */
  unit: string;
  /** Model tokens processed per second so far in this step. */
  tokensPerSec: number;
  /** Estimated seconds left in this step. */
  etaSec: number;
}

export type ProgressCallback = (event: ProgressEvent) => void;

/** Tracks throughput and ETA of one step. */
export class ProgressTracker {
  private readonly t0 = performance.now();
  private tokens = 0;
  constructor(
    private readonly cb: ProgressCallback | undefined,
    private readonly phase: ProgressEvent['phase'],
    private readonly name: string,
    private readonly total: number,
    private readonly unit: string,
  ) {}

  update(done: number, tokensAdded: number): void {
    this.tokens += tokensAdded;
    if (!this.cb) return;
    const sec = (performance.now() - this.t0) / 1000;
    this.cb({
      phase: this.phase,
      name: this.name,
      done,
      total: this.total,
      unit: this.unit,
      tokensPerSec: sec > 0 ? this.tokens / sec : 0,
      etaSec: done > 0 ? (sec / done) * (this.total - done) : Number.NaN,
    });
  }

  elapsedMs(): number {
    return performance.now() - this.t0;
  }

  tokenCount(): number {
    return this.tokens;
  }
}
