/**
 * Progress on stderr: a redrawn bar with rate and ETA on a terminal, a plain line every few seconds
 * elsewhere (logs, CI), nothing under --quiet or --json.
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** what is being done, e.g. "calibration" */
  label: string;
  /** total units when known (no bar, no ETA otherwise) */
  total?: number;
  /** unit name for counts and rate, e.g. "tok" gives "1,234 tok/s" */
  unit?: string;
  /** when the work began, on the reporter's clock (default: now); for bars created at the first callback */
  startedAt?: number;
}

export interface ProgressTask {
  /** add `n` done units */
  advance(n?: number): void;
  /** set the done count (and optionally the total, when it becomes known, and a note such as "812 tok/s") */
  update(done: number, total?: number, note?: string): void;
  /** end the task: final line with the overall rate */
  finish(): void;
}

export interface ProgressReporterOptions {
  stream: ProgressStream;
  /** false under --quiet / --json */
  enabled: boolean;
  /** clock in ms (tests pass a fake one) */
  now?: () => number;
  /** non-TTY: at most one line per this many ms */
  lineIntervalMs?: number;
  /** TTY: at most one redraw per this many ms */
  redrawIntervalMs?: number;
}

export interface ProgressState {
  label: string;
  done: number;
  total?: number;
  unit?: string;
  elapsedMs: number;
  /** extra text at the end, e.g. the model's tokens/s when the bar counts windows */
  note?: string;
}

const BAR_WIDTH = 24;

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return '–';
  if (perSecond >= 100) return formatCount(perSecond);
  if (perSecond >= 10) return perSecond.toFixed(1);
  return perSecond.toFixed(2);
}

/** h:mm:ss or m:ss */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** One progress line; pure so it can be tested without a terminal. */
export function formatProgressLine(state: ProgressState, bar: boolean | number = true, compact = false): string {
  const barWidth = bar === true ? BAR_WIDTH : bar === false ? 0 : bar;
  const unit = state.unit ? ` ${state.unit}` : '';
  const seconds = state.elapsedMs / 1000;
  const rate = seconds > 0 ? state.done / seconds : Number.NaN;
  const parts = [state.label];
  if (state.total !== undefined && state.total > 0) {
    const frac = Math.min(1, Math.max(0, state.done / state.total));
    if (barWidth > 0) {
      const filled = Math.round(frac * barWidth);
      parts.push(`${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}`);
    }
    parts.push(`${(frac * 100).toFixed(0).padStart(3)}%`);
    parts.push(`${formatCount(state.done)}/${formatCount(state.total)}${unit}`);
  } else {
    parts.push(`${formatCount(state.done)}${unit}`);
  }
  // compact: the note (e.g. tokens/s) stands in for the count rate
  if (!(compact && state.note)) parts.push(`${formatRate(rate)}${unit}/s`);
  if (state.total !== undefined && state.total > 0) {
    const remaining = Math.max(0, state.total - state.done);
    const eta = rate > 0 ? (remaining / rate) * 1000 : Number.NaN;
    parts.push(state.done >= state.total ? `done in ${formatDuration(state.elapsedMs)}` : `ETA ${formatDuration(eta)}`);
  } else {
    parts.push(`elapsed ${formatDuration(state.elapsedMs)}`);
  }
  if (state.note) parts.push(state.note);
  return parts.join('  ');
}

export class ProgressReporter {
  private readonly now: () => number;
  private readonly lineIntervalMs: number;
  private readonly redrawIntervalMs: number;
  /** a bar is drawn on the current terminal line */
  private barShown = false;

  constructor(private readonly options: ProgressReporterOptions) {
    this.now = options.now ?? (() => performance.now());
    this.lineIntervalMs = options.lineIntervalMs ?? 5000;
    this.redrawIntervalMs = options.redrawIntervalMs ?? 100;
  }

  get tty(): boolean {
    return this.options.stream.isTTY === true;
  }

  /** Erase a drawn bar before other stderr text (the bar comes back on the next redraw). */
  clearLine(): void {
    if (this.barShown) {
      this.options.stream.write('\r\x1b[K');
      this.barShown = false;
    }
  }

  start(opts: ProgressOptions): ProgressTask {
    const start = opts.startedAt ?? this.now();
    const state: ProgressState = { label: opts.label, done: 0, elapsedMs: 0, ...(opts.total !== undefined ? { total: opts.total } : {}), ...(opts.unit !== undefined ? { unit: opts.unit } : {}) };
    let lastDraw = Number.NEGATIVE_INFINITY;
    let lastDrawnDone = -1;
    let finished = false;
    const enabled = this.options.enabled;
    const draw = (force: boolean): void => {
      if (!enabled || finished) return;
      const t = this.now();
      state.elapsedMs = t - start;
      const interval = this.tty ? this.redrawIntervalMs : this.lineIntervalMs;
      if (!force && t - lastDraw < interval) return;
      // a plain-line log does not repeat a line for the same count (final update, then finish)
      if (force && !this.tty && lastDrawnDone === state.done) return;
      lastDraw = t;
      lastDrawnDone = state.done;
      if (this.tty) {
        // narrow terminals: a shorter bar, then none, then cut the line (a wrapped line cannot be redrawn)
        const cols = (this.options.stream.columns ?? 100) - 1;
        let line = formatProgressLine(state);
        for (const w of [12, 0]) if (line.length > cols) line = formatProgressLine(state, w);
        if (line.length > cols) line = formatProgressLine(state, 0, true);
        if (line.length > cols) line = line.slice(0, cols);
        this.options.stream.write(`\r\x1b[K${line}`);
        this.barShown = true;
      } else {
        this.options.stream.write(`${formatProgressLine(state, false)}\n`);
      }
    };
    // non-TTY: the first line comes after one interval, so short steps print only their final line
    if (!this.tty) lastDraw = start;
    return {
      advance: (n = 1) => {
        state.done += n;
        draw(false);
      },
      update: (done, total, note) => {
        state.done = done;
        if (total !== undefined) state.total = total;
        if (note !== undefined) state.note = note;
        draw(false);
      },
      finish: () => {
        if (finished) return;
        if (state.total === undefined) state.total = state.done;
        draw(true);
        finished = true;
        if (enabled && this.tty) {
          this.options.stream.write('\n');
          this.barShown = false;
        }
      },
    };
  }
}
