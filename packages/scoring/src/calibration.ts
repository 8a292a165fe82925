/**
 * Calibration sets: `samples` windows of `seqLen` token ids, drawn with a seeded RNG.
 *
 * Sampling rule (as LLM-Pruner's and Wanda's C4 loaders): repeat until enough windows: pick a
 * document uniformly at random; encode it; if it has more than `seqLen` tokens, take the window
 * starting at a uniform random offset in [0, length - seqLen]; otherwise draw again. A single long
 * document (a WikiText-2 train file) therefore gives random windows of itself. Documents are
 * encoded once (cached), and only the ones drawn are encoded at all; JSON lines are streamed (only
 * where each record lies is kept), and a long document is read and encoded a stretch at a time.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { INPUT_LIMITS, countProblem } from '@llm-bip/onnx-io';
import { CalibrationError } from './errors.js';
import { seededRng } from './rng.js';

export interface CalibrationOptions {
  /** the documents; or give `jsonlPath` / `textPath` */
  texts?: string[];
  /** JSON lines with a string field (default "text"), one document per line (the C4 sample); gzipped when it ends in .gz (the Hub's C4 shards) */
  jsonlPath?: string;
  jsonlField?: string;
  /** a plain text file, taken as one document */
  textPath?: string;
  /** text -> token ids (the model's tokenizer; prepend BOS here if the model expects it) */
  encode: (text: string) => number[];
  samples?: number;
  seqLen?: number;
  seed?: number;
  /** give up after this many draws of documents that are too short (default 100 x samples) */
  maxDraws?: number;
}

export interface CalibrationSet {
  /** samples x seqLen ids */
  rows: number[][];
  samples: number;
  seqLen: number;
  seed: number;
  /** where the text came from, for the plan's record */
  source: string;
}

/**
 * Documents longer than this many characters (bytes, for a text file) are not encoded whole: each
 * draw reads and encodes only a stretch around its window (a 4 MB text file encoded whole took 87 s
 * and 1.6 GB). Shorter documents, every record of the C4 sample among them, are encoded whole as
 * before, so their windows do not change.
 */
export const LONG_DOCUMENT_CHARS = 256 * 1024;
/** characters read around a window of a long document, per token of the window (LLaMA: ~4 per token) */
const CHARS_READ_PER_TOKEN = 16;
/** one JSON line of a calibration file (a record of the C4 sample is ~2 KB) */
const MAX_LINE_BYTES = INPUT_LIMITS.jsonFileBytes;

/** A document drawn by index: its text is fetched only when drawn. */
type Doc = { text: string } | { path: string; start: number; end: number; jsonField?: string };

/** A long document read a stretch at a time: `length` in chars (or bytes), `slice` returns text. */
interface LongDoc {
  length: number;
  slice(from: number, to: number): Promise<string>;
}

export async function sampleCalibration(opts: CalibrationOptions): Promise<CalibrationSet> {
  const samples = opts.samples ?? 128;
  const seqLen = opts.seqLen ?? 128;
  const seed = opts.seed ?? 0;
  const bad = countProblem('samples', samples, INPUT_LIMITS.samples, 'use fewer calibration samples (the default is 128)') ??
    countProblem('seqLen', seqLen, INPUT_LIMITS.contextLength, "use a calibration length within the model's context");
  if (bad) throw new CalibrationError(bad);
  const { docs, source } = await loadDocuments(opts);
  if (docs.length === 0) throw new CalibrationError(`no documents in ${source}: give a non-empty text source`);

  const rng = seededRng(seed);
  const cache = new Map<number, number[] | LongDoc>();
  const rows: number[][] = [];
  const maxDraws = opts.maxDraws ?? 100 * samples;
  let draws = 0;
  while (rows.length < samples) {
    if (draws++ >= maxDraws) {
      throw new CalibrationError(
        `only ${rows.length} of ${samples} calibration windows after ${maxDraws} draws: too few documents in ${source} are longer than ${seqLen} tokens. Use a shorter --seqlen or longer documents.`,
      );
    }
    const d = rng.int(docs.length);
    let entry = cache.get(d);
    if (!entry) {
      entry = await prepare(docs[d]!, opts.encode);
      cache.set(d, entry);
    }
    if (Array.isArray(entry)) {
      const ids = entry;
      if (ids.length <= seqLen) continue;
      const start = rng.int(ids.length - seqLen + 1);
      rows.push(ids.slice(start, start + seqLen));
      continue;
    }
    // a long document: encode a stretch at a random offset, cut at whitespace; its first token
    // (BOS, or a word cut by the stretch) is never part of the window
    const span = seqLen * CHARS_READ_PER_TOKEN;
    const from = rng.int(Math.max(1, entry.length - span + 1));
    const ids = opts.encode(wholeWords(await entry.slice(from, from + span), from === 0));
    if (ids.length <= seqLen + 1) continue;
    const start = 1 + rng.int(ids.length - seqLen);
    rows.push(ids.slice(start, start + seqLen));
  }
  return { rows, samples, seqLen, seed, source };
}

/** Encode a short document whole; give a long one a stretch reader. */
async function prepare(doc: Doc, encode: (text: string) => number[]): Promise<number[] | LongDoc> {
  if ('text' in doc) {
    const text = doc.text;
    return text.length > LONG_DOCUMENT_CHARS ? { length: text.length, slice: async (a: number, b: number) => text.slice(a, b) } : encode(text);
  }
  if (doc.jsonField === undefined && doc.end - doc.start > LONG_DOCUMENT_CHARS) {
    return { length: doc.end - doc.start, slice: (a: number, b: number) => readBytes(doc.path, doc.start + a, Math.min(b, doc.end - doc.start) - a).then((x) => x.toString('utf8')) };
  }
  const raw = (await readBytes(doc.path, doc.start, doc.end - doc.start)).toString('utf8');
  return prepare({ text: doc.jsonField === undefined ? raw : ((JSON.parse(raw) as Record<string, string>)[doc.jsonField] as string) }, encode);
}

/** Drop the partial words at both ends of a stretch (a byte cut may also split a character there). */
function wholeWords(text: string, atStart: boolean): string {
  const first = atStart ? 0 : text.search(/\s/);
  const last = Math.max(text.lastIndexOf(' '), text.lastIndexOf('\n'));
  return first < 0 || last <= first ? '' : text.slice(first, last);
}

async function loadDocuments(opts: CalibrationOptions): Promise<{ docs: Doc[]; source: string }> {
  const given = [opts.texts, opts.jsonlPath, opts.textPath].filter((x) => x !== undefined).length;
  if (given !== 1) throw new CalibrationError('give exactly one of texts, jsonlPath or textPath');
  if (opts.texts) return { docs: opts.texts.map((text) => ({ text })), source: `${opts.texts.length} texts` };
  if (opts.textPath) {
    const size = await fileSize(opts.textPath);
    return { docs: [{ path: opts.textPath, start: 0, end: size }], source: opts.textPath };
  }
  const path = opts.jsonlPath!;
  const field = opts.jsonlField ?? 'text';
  if (path.endsWith('.gz')) return { docs: await gzipJsonlTexts(path, field), source: path };
  // stream the lines: keep where each record is, not its text (read again when drawn)
  const docs: Doc[] = [];
  let lineNo = 0;
  await forEachLine(path, (line, start, end) => {
    lineNo++;
    if (end - start > MAX_LINE_BYTES) throw new CalibrationError(`${path}:${lineNo} is ${end - start} bytes, over the limit of ${MAX_LINE_BYTES} for one record`);
    const text = line.toString('utf8');
    if (text.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(text);
    } catch {
      throw new CalibrationError(`${path}:${lineNo} is not valid JSON: the file must hold one JSON object per line`);
    }
    const v = (rec as Record<string, unknown> | null)?.[field];
    if (typeof v !== 'string') throw new CalibrationError(`${path}:${lineNo} has no string field "${field}": pass jsonlField to name the text field`);
    docs.push({ path, start, end, jsonField: field });
  });
  return { docs, source: path };
}

/**
 * The texts of gzipped JSON lines (the Hub's C4 shards): a gzip stream has no byte offsets to come back
 * to, so the texts are kept (a C4 validation shard: about 100 MB of text).
 */
async function gzipJsonlTexts(path: string, field: string): Promise<Doc[]> {
  const fh = await openFile(path);
  const docs: Doc[] = [];
  let lineNo = 0;
  const lines = createInterface({ input: fh.createReadStream().pipe(createGunzip()), crlfDelay: Infinity });
  try {
    for await (const text of lines) {
      lineNo++;
      if (Buffer.byteLength(text) > MAX_LINE_BYTES) throw new CalibrationError(`${path}:${lineNo} is over the limit of ${MAX_LINE_BYTES} bytes for one record`);
      if (text.trim() === '') continue;
      let rec: unknown;
      try {
        rec = JSON.parse(text);
      } catch {
        throw new CalibrationError(`${path}:${lineNo} is not valid JSON: the file must hold one JSON object per line (gzipped)`);
      }
      const v = (rec as Record<string, unknown> | null)?.[field];
      if (typeof v !== 'string') throw new CalibrationError(`${path}:${lineNo} has no string field "${field}": pass jsonlField to name the text field`);
      docs.push({ text: v });
    }
  } catch (e) {
    if (e instanceof CalibrationError) throw e;
    throw new CalibrationError(`cannot read calibration file ${path}: not gzipped JSON lines (${(e as Error).message})`);
  } finally {
    lines.close();
    await fh.close();
  }
  return docs;
}

/** Call `fn` with each line of a file (without its newline) and its byte range, reading 1 MiB at a time. */
async function forEachLine(path: string, fn: (line: Buffer, start: number, end: number) => void): Promise<void> {
  const fh = await openFile(path);
  try {
    const chunk = Buffer.alloc(1024 * 1024);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let lineStart = 0;
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) break;
      let from = 0;
      for (let nl = chunk.indexOf(10, 0); nl !== -1 && nl < bytesRead; nl = chunk.indexOf(10, nl + 1)) {
        const line = Buffer.concat([...pending, chunk.subarray(from, nl)]);
        fn(line, lineStart, pos + nl);
        pending = [];
        pendingBytes = 0;
        from = nl + 1;
        lineStart = pos + nl + 1;
      }
      if (from < bytesRead) {
        pendingBytes += bytesRead - from;
        // a line that never ends is refused before it fills memory
        if (pendingBytes > MAX_LINE_BYTES) throw new CalibrationError(`${path}: a line is over ${MAX_LINE_BYTES} bytes long; the file is not JSON lines`);
        pending.push(Buffer.from(chunk.subarray(from, bytesRead)));
      }
      pos += bytesRead;
    }
    if (pendingBytes > 0) fn(Buffer.concat(pending), lineStart, pos);
  } finally {
    await fh.close();
  }
}

async function openFile(path: string): Promise<FileHandle> {
  try {
    const fh = await open(path, 'r');
    if (!(await fh.stat()).isFile()) {
      await fh.close();
      throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    }
    return fh;
  } catch (e) {
    throw new CalibrationError(`cannot read calibration file ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): pass a .jsonl or plain text file with --calib`);
  }
}

async function fileSize(path: string): Promise<number> {
  const fh = await openFile(path);
  try {
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

async function readBytes(path: string, start: number, length: number): Promise<Buffer> {
  const fh = await openFile(path);
  try {
    const buf = Buffer.alloc(Math.max(0, length));
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, start + done);
      if (bytesRead === 0) throw new CalibrationError(`calibration file ${path} changed while it was read: run again`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}
