/**
 * One weight slot's ONNX bytes, streamed from its safetensors tensor in bands: the checkpoint's dtype
 * (F32, F16, BF16, F64) converted to the export type, HF [out, in] Linear weights laid out as ONNX
 * [in, out]. Memory stays at one read block and one band (about 100 MB) whatever the tensor's size:
 * a Llama-3-8B lm_head is 1 GB in bf16 and would be 2 GB as float32.
 *
 * A transposed band is a run of ONNX rows (= HF columns j0..j1): it is gathered from the whole tensor,
 * read in row blocks, then written in one piece, so the output is sequential and the tensor is read
 * once per band (from the page cache after the first).
 */
import { DataType, bfloat16ToFloat32, float16ToFloat32, float32ToFloat16 } from '@llm-bip/onnx-io';
import type { SafetensorsCheckpoint, SafetensorsDtype } from '../hf/safetensors.js';
import type { WeightSlot } from './llama-graph.js';

/** floats in the band being assembled (64 MiB as float32) */
const BAND_FLOATS = 16 * 1024 * 1024;
/** bytes of the checkpoint read at a time */
const READ_BYTES = 16 * 1024 * 1024;

/** Decoder of a run of checkpoint elements into float32. */
type Decode = (bytes: Uint8Array, start: number, count: number, into: Float32Array<ArrayBuffer>) => void;

function decoderOf(dtype: SafetensorsDtype, name: string): { width: number; decode: Decode } {
  switch (dtype) {
    case 'BF16':
      return { width: 2, decode: (b, s, n, into) => void bfloat16ToFloat32(new Uint16Array(b.buffer, b.byteOffset + s * 2, n), into) };
    case 'F16':
      return { width: 2, decode: (b, s, n, into) => void float16ToFloat32(new Uint16Array(b.buffer, b.byteOffset + s * 2, n), into) };
    case 'F32':
      return { width: 4, decode: (b, s, n, into) => into.set(new Float32Array(b.buffer, b.byteOffset + s * 4, n)) };
    case 'F64':
      return { width: 8, decode: (b, s, n, into) => into.set(new Float64Array(b.buffer, b.byteOffset + s * 8, n)) };
    default:
      throw new RangeError(`tensor "${name}" is ${dtype}, expected a floating type (F32, F16, BF16)`);
  }
}

/** The export type's bytes of a float32 band (fp16 through a reused buffer). */
function encoder(dataType: number): (band: Float32Array) => Uint8Array {
  if (dataType === DataType.FLOAT) return (band) => new Uint8Array(band.buffer, band.byteOffset, band.byteLength);
  if (dataType === DataType.FLOAT16) {
    let half = new Uint16Array(0);
    return (band) => {
      if (half.length < band.length) half = new Uint16Array(band.length);
      const out = float32ToFloat16(band, half.subarray(0, band.length));
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    };
  }
  throw new RangeError(`cannot export weights as data type ${dataType}`);
}

export interface BandSizes {
  /** floats in one band (default 16 Mi: 64 MiB) */
  bandFloats?: number;
  /** checkpoint bytes read at a time (default 16 MiB) */
  readBytes?: number;
}

/** Bytes of `slot` in ONNX layout and type, in bands; `byteLength` is their total. */
export function streamSlot(slot: WeightSlot, ckpt: SafetensorsCheckpoint, sizes: BandSizes = {}): { byteLength: number; chunks: AsyncIterable<Uint8Array> } {
  const bandFloats = sizes.bandFloats ?? BAND_FLOATS;
  const readBytes = sizes.readBytes ?? READ_BYTES;
  const entry = ckpt.entry(slot.hfName);
  if (entry.shape.length !== slot.hfShape.length || entry.shape.some((d, i) => d !== slot.hfShape[i])) {
    throw new RangeError(`tensor "${slot.hfName}" has shape [${entry.shape}], expected [${slot.hfShape}] from config.json`);
  }
  const { width, decode } = decoderOf(entry.dtype, slot.hfName);
  const dataType = slot.tensor.dataType ?? DataType.FLOAT;
  const outWidth = dataType === DataType.FLOAT16 ? 2 : 4;
  // a row block of a fused tensor (Phi-3's qkv_proj, gate_up_proj): rows first..first+rows-1 of it
  const first = slot.rows?.start ?? 0;
  const rows = slot.rows ? slot.rows.end - slot.rows.start : slot.hfShape.length === 2 ? slot.hfShape[0]! : 1;
  const cols = slot.hfShape.length === 2 ? slot.hfShape[1]! : slot.hfShape[0]!;
  const encode = encoder(dataType);
  const byteLength = rows * cols * outWidth;

  async function* sameLayout(): AsyncGenerator<Uint8Array> {
    // ONNX rows = HF rows: each block of rows, converted, is the next piece of the output
    const blockRows = Math.max(1, Math.floor(readBytes / (cols * width)));
    const raw = new Uint8Array(Math.min(rows, blockRows) * cols * width);
    const band = new Float32Array(Math.min(rows, blockRows) * cols);
    for (let r0 = 0; r0 < rows; r0 += blockRows) {
      const n = Math.min(blockRows, rows - r0) * cols;
      await ckpt.readByteRange(slot.hfName, (first + r0) * cols * width, raw.subarray(0, n * width));
      decode(raw, 0, n, band.subarray(0, n));
      yield encode(band.subarray(0, n));
    }
  }

  async function* transposed(): AsyncGenerator<Uint8Array> {
    // ONNX [cols, rows]: band = ONNX rows j0..j1, i.e. HF columns j0..j1 of every HF row
    const bandCols = Math.max(1, Math.min(cols, Math.floor(bandFloats / rows)));
    const blockRows = Math.max(1, Math.min(rows, Math.floor(readBytes / (cols * width))));
    const raw = new Uint8Array(blockRows * cols * width);
    const band = new Float32Array(bandCols * rows);
    const segment = new Float32Array(bandCols);
    for (let j0 = 0; j0 < cols; j0 += bandCols) {
      const c = Math.min(bandCols, cols - j0);
      for (let r0 = 0; r0 < rows; r0 += blockRows) {
        const nr = Math.min(blockRows, rows - r0);
        await ckpt.readByteRange(slot.hfName, (first + r0) * cols * width, raw.subarray(0, nr * cols * width));
        for (let r = 0; r < nr; r++) {
          decode(raw, r * cols + j0, c, segment);
          const row = r0 + r;
          for (let j = 0; j < c; j++) band[j * rows + row] = segment[j]!;
        }
      }
      yield encode(band.subarray(0, c * rows));
    }
  }

  return { byteLength, chunks: slot.transpose ? transposed() : sameLayout() };
}
