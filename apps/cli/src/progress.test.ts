import { describe, expect, it } from 'vitest';
import { formatDuration, formatProgressLine, ProgressReporter } from './progress.js';

function stream(isTTY: boolean) {
  const s = { text: '', isTTY, columns: 200, write: (t: string) => (s.text += t) };
  return s;
}

describe('formatProgressLine', () => {
  it('shows percent, counts, rate and ETA from elapsed time', () => {
    // 2,500 of 10,000 tokens in 5 s: 500 tok/s, 7,500 left -> 15 s
    const line = formatProgressLine({ label: 'calibration', done: 2500, total: 10000, unit: 'tok', elapsedMs: 5000 });
    expect(line).toContain(' 25%');
    expect(line).toContain('2,500/10,000 tok');
    expect(line).toContain('500 tok/s');
    expect(line).toContain('ETA 0:15');
    expect(line).toContain('██████░░░░░░░░░░░░░░░░░░'); // 6 of 24 cells
  });

  it('says "done in" at the end and omits the bar when asked', () => {
    const line = formatProgressLine({ label: 'surgery', done: 8, total: 8, unit: 'layer', elapsedMs: 61_000 }, false);
    expect(line).toBe('surgery  100%  8/8 layer  0.13 layer/s  done in 1:01');
  });

  it('without a total shows count, rate and elapsed time', () => {
    expect(formatProgressLine({ label: 'eval', done: 300, unit: 'win', elapsedMs: 2000 })).toBe('eval  300 win  150 win/s  elapsed 0:02');
  });

  it('formats durations', () => {
    expect(formatDuration(3_725_000)).toBe('1:02:05');
    expect(formatDuration(59_400)).toBe('0:59');
    expect(formatDuration(Number.NaN)).toBe('–');
  });
});

describe('ProgressReporter', () => {
  it('TTY: redraws in place at most every redraw interval, ends with a newline', () => {
    let t = 0;
    const s = stream(true);
    const r = new ProgressReporter({ stream: s, enabled: true, now: () => t, redrawIntervalMs: 100 });
    const task = r.start({ label: 'calib', total: 100, unit: 'tok' });
    for (let i = 0; i < 100; i++) {
      t += 10; // 1 s in total: 10 redraws at most
      task.advance();
    }
    task.finish();
    const draws = s.text.split('\r\x1b[K').length - 1;
    expect(draws).toBeGreaterThanOrEqual(10);
    expect(draws).toBeLessThanOrEqual(12);
    expect(s.text.endsWith('\n')).toBe(true);
    expect(s.text.split('\n').length).toBe(2); // one line, redrawn
    expect(s.text).toContain('100 tok/s');
  });

  it('non-TTY: one plain line per interval plus a final line, no escape codes', () => {
    let t = 0;
    const s = stream(false);
    const r = new ProgressReporter({ stream: s, enabled: true, now: () => t, lineIntervalMs: 5000 });
    const task = r.start({ label: 'eval', total: 120, unit: 'win' });
    for (let i = 0; i < 120; i++) {
      t += 100; // 12 s: lines at 5 s and 10 s, then the final one
      task.advance();
    }
    task.finish();
    const lines = s.text.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^eval {3}42% {2}50\/120 win {2}10\.0 win\/s {2}ETA 0:07$/);
    expect(lines[2]).toContain('done in 0:12');
    expect(s.text).not.toContain('\x1b');
  });

  it('non-TTY: the final update and finish() print one line, not two', () => {
    let t = 0;
    const s = stream(false);
    const r = new ProgressReporter({ stream: s, enabled: true, now: () => t, lineIntervalMs: 1000 });
    const task = r.start({ label: 'calibration', total: 4, unit: 'tok' });
    t = 2000;
    task.update(4);
    task.finish();
    expect(s.text.trimEnd().split('\n')).toEqual(['calibration  100%  4/4 tok  2.00 tok/s  done in 0:02']);
  });

  it('TTY: a narrow terminal gets a shorter bar, then none, never a wrapped line', () => {
    const s = { text: '', isTTY: true, columns: 80, write: (t: string) => (s.text += t) };
    const r = new ProgressReporter({ stream: s, enabled: true, now: () => 1000 });
    const task = r.start({ label: 'perplexity wikitext2', total: 60, unit: 'windows', startedAt: 0 });
    task.update(30, 60, '1,102 tok/s');
    const line = s.text.split('\r\x1b[K').pop()!;
    expect(line.length).toBeLessThanOrEqual(79);
    expect(line).toContain('1,102 tok/s');
    expect(line).toContain(' 50%');
  });

  it('disabled (quiet / json): writes nothing', () => {
    const s = stream(true);
    const r = new ProgressReporter({ stream: s, enabled: false });
    const task = r.start({ label: 'x', total: 3 });
    task.advance(3);
    task.finish();
    r.clearLine();
    expect(s.text).toBe('');
  });
});
