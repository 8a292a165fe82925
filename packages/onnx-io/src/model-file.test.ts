import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtures, runReadmeExample, tempDir } from '@llm-bip/testing';
import { encodeModel, OnnxDecodeError } from './proto/codec.js';
import { DataType, type ModelProto, type TensorProto } from './proto/types.js';
import { collectTensors, replaceTensors } from './external-data/tensor-slots.js';
import { externalDataRef, isExternal } from './external-data/location.js';
import { readTensorBytes, makeTensor } from './tensor/tensor-data.js';
import { loadModel, ModelFileError, saveModel, type LoadedModel } from './model-file.js';

const tmp = tempDir();
afterAll(tmp.cleanup);
let n = 0;
const freshDir = () => {
  const d = join(tmp.dir, `case-${n++}`);
  mkdirSync(d);
  return d;
};

/** Everything but tensor data, as encoded bytes: graph, attributes, opsets, metadata. */
function structure(model: ModelProto): Buffer {
  const strip = new Map<TensorProto, TensorProto>();
  for (const { tensor } of collectTensors(model)) {
    const { rawData: _r, externalData: _e, dataLocation: _l, ...rest } = tensor;
    strip.set(tensor, rest);
  }
  return Buffer.from(encodeModel(replaceTensors(model, strip)));
}

async function weights(m: LoadedModel): Promise<Array<[string, Buffer]>> {
  const out: Array<[string, Buffer]> = [];
  for (const { tensor } of collectTensors(m.model)) out.push([tensor.name ?? '', Buffer.from(await readTensorBytes(tensor, m.dir))]);
  return out;
}

function expectSameModel(a: Buffer, b: Buffer, wa: Array<[string, Buffer]>, wb: Array<[string, Buffer]>) {
  expect(b.length).toBe(a.length);
  expect(Buffer.compare(a, b)).toBe(0);
  expect(wb.map(([k]) => k)).toEqual(wa.map(([k]) => k));
  for (let i = 0; i < wa.length; i++) {
    if (!wa[i]![1].equals(wb[i]![1])) throw new Error(`weight bytes of "${wa[i]![0]}" differ after the round trip`);
  }
}

describe('loadModel / saveModel round trip', () => {
  for (const [name, path] of [
    ['torchscript', fixtures.torchscript],
    ['dynamo', fixtures.dynamo],
    ['genai (external data)', fixtures.genai],
  ] as const) {
    it(`keeps graph, attributes, opsets, metadata and weight bytes of the ${name} fixture`, async () => {
      const original = await loadModel(path);
      const before = structure(original.model);
      const beforeWeights = await weights(original);
      const snapshot = Buffer.from(encodeModel(original.model));

      const dir = freshDir();
      const inline = await saveModel(original.model, join(dir, 'inline.onnx'), { sourceDir: original.dir, externalData: false });
      expect(inline.tensorsExternal).toBe(0);
      expect(existsSync(join(dir, 'inline.onnx.data'))).toBe(false);
      const li = await loadModel(join(dir, 'inline.onnx'));
      expect(collectTensors(li.model).some((s) => isExternal(s.tensor))).toBe(false);
      expect(inline.bytesWritten).toBe(statSync(join(dir, 'inline.onnx')).size);
      expectSameModel(before, structure(li.model), beforeWeights, await weights(li));

      const external = await saveModel(li.model, join(dir, 'ext.onnx'), { sourceDir: li.dir });
      const le = await loadModel(join(dir, 'ext.onnx'));
      const ext = collectTensors(le.model).filter((s) => isExternal(s.tensor));
      expect(ext.length).toBe(external.tensorsExternal);
      expect(ext.length).toBeGreaterThan(0);
      expect(external.bytesWritten).toBe(statSync(join(dir, 'ext.onnx')).size + statSync(join(dir, 'ext.onnx.data')).size);
      expectSameModel(before, structure(le.model), beforeWeights, await weights(le));

      // the caller's model object is not modified by either save
      expect(Buffer.compare(Buffer.from(encodeModel(original.model)), snapshot)).toBe(0);
    });
  }

  it('copies external data straight from one external file to another (genai)', async () => {
    const original = await loadModel(fixtures.genai);
    const dir = freshDir();
    const res = await saveModel(original.model, join(dir, 'copy.onnx'), {
      sourceDir: original.dir,
      externalData: { location: 'weights/all.bin', sizeThreshold: 600 },
    });
    const copy = await loadModel(join(dir, 'copy.onnx'));
    expect(res.dataPath).toBe(join(dir, 'weights', 'all.bin'));
    expectSameModel(structure(original.model), structure(copy.model), await weights(original), await weights(copy));
    // the genai fixture stores 512-byte norm weights externally: under the threshold they come back inline
    const norm = copy.model.graph!.initializer!.find((t) => t.name === 'model.layers.0.input_layernorm.weight')!;
    expect(isExternal(norm)).toBe(false);
    expect(norm.rawData?.length).toBe(512);
  });
});

describe('external data layout', () => {
  const model = (tensors: TensorProto[]): ModelProto => ({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: [{ opType: 'Identity', input: [tensors[0]!.name!], output: ['y'], name: 'id' }],
      initializer: tensors,
      output: [{ name: 'y', type: { tensorType: { elemType: DataType.FLOAT } } }],
    },
  });

  it('puts only tensors over the threshold in the data file, each at a 4096-aligned offset', async () => {
    const small = makeTensor('small', DataType.FLOAT, [256], Float32Array.from({ length: 256 }, (_, i) => i)); // 1024 bytes
    const big = makeTensor('big', DataType.FLOAT, [257], Float32Array.from({ length: 257 }, (_, i) => -i)); // 1028
    const typed: TensorProto = { name: 'typed', dataType: DataType.FLOAT, dims: [300], floatData: Array.from({ length: 300 }, (_, i) => i / 2) };
    const dir = freshDir();
    const res = await saveModel(model([small, big, typed]), join(dir, 'm.onnx'));
    expect(res.tensorsExternal).toBe(2);
    const loaded = await loadModel(join(dir, 'm.onnx'));
    const [s, b, t] = loaded.model.graph!.initializer!;
    expect(isExternal(s!)).toBe(false);
    expect(externalDataRef(b!)).toEqual({ location: 'm.onnx.data', offset: 0, length: 1028 });
    expect(externalDataRef(t!)).toEqual({ location: 'm.onnx.data', offset: 4096, length: 1200 });
    expect(t!.floatData ?? []).toEqual([]);
    const data = readFileSync(join(dir, 'm.onnx.data'));
    expect(data.length).toBe(4096 + 1200);
    expect(Array.from(new Float32Array(data.buffer.slice(data.byteOffset + 4096, data.byteOffset + 4096 + 1200)))).toEqual(typed.floatData);
    expect(Buffer.from(await readTensorBytes(b!, loaded.dir)).equals(Buffer.from(big.rawData!))).toBe(true);
  });

  it('honours sizeThreshold and alignment options', async () => {
    const a = makeTensor('a', DataType.INT64, [3], [1, 2, 3]);
    const b = makeTensor('b', DataType.INT64, [2], [4, 5]);
    const dir = freshDir();
    await saveModel(model([a, b]), join(dir, 'm.onnx'), { externalData: { sizeThreshold: 8, alignment: 64 } });
    const loaded = await loadModel(join(dir, 'm.onnx'));
    expect(loaded.model.graph!.initializer!.map((t) => externalDataRef(t))).toEqual([
      { location: 'm.onnx.data', offset: 0, length: 24 },
      { location: 'm.onnx.data', offset: 64, length: 16 },
    ]);
  });
});

describe('saveModel transform (the hook the exporter and surgery write through)', () => {
  const graphOf = (tensors: TensorProto[]): ModelProto => ({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: tensors.map((t, i) => ({ opType: 'Identity', input: [t.name!], output: [`y${i}`], name: `id${i}` })),
      initializer: tensors,
      output: tensors.map((_, i) => ({ name: `y${i}`, type: { tensorType: { elemType: DataType.FLOAT } } })),
    },
  });
  const floats = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  // independent reference: keep every other column of a [rows, cols] float matrix
  const everyOtherColumn = (v: Float32Array, rows: number, cols: number) => floats(rows * Math.ceil(cols / 2), (k) => v[Math.floor(k / Math.ceil(cols / 2)) * cols + 2 * (k % Math.ceil(cols / 2))]!);

  for (const external of [true, false]) {
    it(`replaces bytes and dims tensor by tensor, reading external sources by offset (${external ? 'external' : 'inline'} output)`, async () => {
      const a = makeTensor('a', DataType.FLOAT, [8, 64], floats(512, (i) => i));
      const b = makeTensor('b', DataType.FLOAT, [4, 6], floats(24, (i) => -i));
      const c = makeTensor('c', DataType.FLOAT, [300], floats(300, (i) => i / 4));
      const src = freshDir();
      await saveModel(graphOf([a, b, c]), join(src, 'src.onnx')); // a and c external, b inline
      const loaded = await loadModel(join(src, 'src.onnx'));
      const reused = new Uint8Array(4096); // one buffer for every result: kept-inline tensors must be copied
      const seen: string[] = [];
      const out = freshDir();
      const progress: number[] = [];
      const res = await saveModel(loaded.model, join(out, 'm.onnx'), {
        sourceDir: loaded.dir,
        externalData: external ? {} : false,
        onProgress: (p) => progress.push(p.done),
        transform: async (t, ctx) => {
          seen.push(`${t.name}:${ctx.initializer}`);
          if (t.name === 'c') return undefined;
          const [rows, cols] = [t.dims![0] as number, t.dims![1] as number];
          const v = new Float32Array((await ctx.read()).slice().buffer);
          const kept = new Uint8Array(everyOtherColumn(v, rows, cols).buffer);
          reused.set(kept);
          return { bytes: reused.subarray(0, kept.length), dims: [rows, Math.ceil(cols / 2)], reused: true };
        },
      });
      expect(seen).toEqual(['a:true', 'b:true', 'c:true']);
      expect(progress).toEqual([1, 2, 3]);
      expect(res.tensorsTransformed).toBe(2);
      expect(res.tensorsExternal).toBe(external ? 1 : 0); // only c: a is 1024 bytes after slicing, not over the threshold
      const m = await loadModel(join(out, 'm.onnx'));
      const [ta, tb, tc] = m.model.graph!.initializer!;
      expect([ta!.dims, tb!.dims, tc!.dims].map((d) => d!.map(Number))).toEqual([[8, 32], [4, 3], [300]]);
      const values = async (t: TensorProto) => Array.from(new Float32Array((await readTensorBytes(t, m.dir)).slice().buffer));
      expect(await values(ta!)).toEqual(Array.from(everyOtherColumn(floats(512, (i) => i), 8, 64)));
      expect(await values(tb!)).toEqual(Array.from(everyOtherColumn(floats(24, (i) => -i), 4, 6)));
      expect(await values(tc!)).toEqual(Array.from(floats(300, (i) => i / 4)));
      expect(readdirSync(out).sort()).toEqual(external ? ['m.onnx', 'm.onnx.data'] : ['m.onnx']);
    });
  }

  // a streamed replacement: the bytes of `values` in pieces of `piece` floats, from one reused buffer
  const pieces = (values: Float32Array, piece: number, extra = 0) => ({
    byteLength: values.byteLength + extra,
    chunks: (async function* () {
      const buf = new Float32Array(piece);
      for (let i = 0; i < values.length; i += piece) {
        const part = values.subarray(i, i + piece);
        buf.set(part);
        yield new Uint8Array(buf.buffer, 0, part.byteLength);
      }
    })(),
  });

  for (const external of [true, false]) {
    it(`writes a streamed replacement chunk by chunk (${external ? 'external' : 'inline'} output)`, async () => {
      const big = floats(3000, (i) => Math.sin(i));
      const small = floats(10, (i) => i);
      const out = freshDir();
      const res = await saveModel(graphOf([makeTensor('big', DataType.FLOAT, [3000], floats(3000, () => 0)), makeTensor('small', DataType.FLOAT, [10], floats(10, () => 0))]), join(out, 'm.onnx'), {
        externalData: external ? {} : false,
        transform: (t) => (t.name === 'big' ? pieces(big, 700) : { ...pieces(small, 3), dims: [2, 5] }),
      });
      expect(res.tensorsTransformed).toBe(2);
      expect(res.tensorsExternal).toBe(external ? 1 : 0); // small (40 bytes) stays inline either way
      const m = await loadModel(join(out, 'm.onnx'));
      const [tb, ts] = m.model.graph!.initializer!;
      expect(isExternal(tb!)).toBe(external);
      expect(ts!.dims!.map(Number)).toEqual([2, 5]);
      const values = async (t: TensorProto) => Array.from(new Float32Array((await readTensorBytes(t, m.dir)).slice().buffer));
      expect(await values(tb!)).toEqual(Array.from(big));
      expect(await values(ts!)).toEqual(Array.from(small));
    });

    it(`refuses chunks that do not add up to the announced length, leaving nothing (${external ? 'external' : 'inline'})`, async () => {
      const out = freshDir();
      for (const extra of [4, -4]) {
        await expect(
          saveModel(graphOf([makeTensor('big', DataType.FLOAT, [3000], floats(3000, () => 0))]), join(out, 'm.onnx'), {
            externalData: external ? {} : false,
            transform: () => pieces(floats(3000, (i) => i), 1000, extra),
          }),
        ).rejects.toThrow(/tensor "big": the chunks hold 12000 bytes, 12004 were announced|more than the 11996 bytes/);
      }
      expect(readdirSync(out)).toEqual([]);
    });
  }

  it('writes sidecars in the same step, told the data file; a failing transform leaves nothing', async () => {
    const t = makeTensor('w', DataType.FLOAT, [512], floats(512, (i) => i));
    const out = freshDir();
    const res = await saveModel(graphOf([t]), join(out, 'm.onnx'), {
      transform: () => undefined,
      sidecars: (w) => [{ path: join(out, 'm.onnx.note.json'), data: JSON.stringify(w) }],
    });
    expect(JSON.parse(readFileSync(join(out, 'm.onnx.note.json'), 'utf8'))).toEqual({ modelPath: res.modelPath, dataPath: res.dataPath });
    const failed = freshDir();
    writeFileSync(join(failed, 'm.onnx'), 'old');
    await expect(
      saveModel(graphOf([t]), join(failed, 'm.onnx'), {
        transform: () => {
          throw new Error('slice failed (simulated)');
        },
        sidecars: () => [{ path: join(failed, 'side.json'), data: '{}' }],
      }),
    ).rejects.toThrow(/simulated/);
    expect(readdirSync(failed)).toEqual(['m.onnx']);
    expect(readFileSync(join(failed, 'm.onnx'), 'utf8')).toBe('old');
  });
});

describe('errors', () => {
  it('names a missing file, a folder, an empty file and a non-ONNX file', async () => {
    const dir = freshDir();
    await expect(loadModel(join(dir, 'nope.onnx'))).rejects.toThrow(/no model file at .*nope\.onnx/);
    writeFileSync(join(dir, 'a.onnx'), '');
    await expect(loadModel(dir)).rejects.toThrow(/is a folder, not a model file: pass the \.onnx file inside it \(found a\.onnx\)/);
    await expect(loadModel(join(dir, 'a.onnx'))).rejects.toThrow(/is empty/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 256 }));
    await expect(loadModel(join(dir, 'config.json'))).rejects.toThrow(OnnxDecodeError);
  });

  it('reports a truncated model file', async () => {
    const dir = freshDir();
    const bytes = readFileSync(fixtures.torchscript);
    writeFileSync(join(dir, 'cut.onnx'), bytes.subarray(0, bytes.length - 100));
    await expect(loadModel(join(dir, 'cut.onnx'))).rejects.toThrow(/truncated or corrupt/);
  });

  it('reports a truncated external data file at load, naming the tensor', async () => {
    const dir = freshDir();
    copyFileSync(fixtures.genai, join(dir, 'model.onnx'));
    const data = readFileSync(join(fixtures.genai + '.data'));
    writeFileSync(join(dir, 'model.onnx.data'), data.subarray(0, data.length - 1));
    await expect(loadModel(join(dir, 'model.onnx'))).rejects.toThrow(/tensor ".*".*"model\.onnx\.data" is truncated/);
  });

  it('asks for sourceDir when the model has external tensors', async () => {
    const original = await loadModel(fixtures.genai);
    await expect(saveModel(original.model, join(freshDir(), 'm.onnx'))).rejects.toThrow(/pass \{ sourceDir: loaded\.dir \}/);
  });

  it('refuses to write the data file over the file the model reads from', async () => {
    const dir = freshDir();
    copyFileSync(fixtures.genai, join(dir, 'model.onnx'));
    copyFileSync(fixtures.genai + '.data', join(dir, 'model.onnx.data'));
    const m = await loadModel(join(dir, 'model.onnx'));
    await expect(saveModel(m.model, join(dir, 'model.onnx'), { sourceDir: m.dir })).rejects.toThrow(/read from that same file/);
    // a different data file name in the same folder is fine
    await saveModel(m.model, join(dir, 'model.onnx'), { sourceDir: m.dir, externalData: { location: 'model.v2.data' } });
    const again = await loadModel(join(dir, 'model.onnx'));
    expectSameModel(structure(m.model), structure(again.model), await weights(m), await weights(again));
  });

  it('leaves nothing at the target when a save fails midway', async () => {
    const src = freshDir();
    copyFileSync(fixtures.genai, join(src, 'model.onnx'));
    copyFileSync(fixtures.genai + '.data', join(src, 'model.onnx.data'));
    const m = await loadModel(join(src, 'model.onnx'));
    // the last tensor's data is past the end of a data file truncated after load
    const data = readFileSync(join(src, 'model.onnx.data'));
    writeFileSync(join(src, 'model.onnx.data'), data.subarray(0, data.length - 4096));
    const out = freshDir();
    await expect(saveModel(m.model, join(out, 'pruned.onnx'), { sourceDir: m.dir })).rejects.toThrow(/truncated/);
    expect(readdirSync(out)).toEqual([]);
    await expect(saveModel(m.model, join(out, 'pruned.onnx'), { sourceDir: m.dir, externalData: false })).rejects.toThrow(/truncated/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('leaves nothing at the target when a source file is unreadable', async () => {
    if (process.getuid?.() === 0) {
      // root ignores file modes: simulate unreadable by replacing the file with a folder
      const src = freshDir();
      copyFileSync(fixtures.genai, join(src, 'model.onnx'));
      mkdirSync(join(src, 'model.onnx.data'));
      const m = await loadModel(join(src, 'model.onnx'), { checkExternalData: false });
      const out = freshDir();
      await expect(saveModel(m.model, join(out, 'x.onnx'), { sourceDir: m.dir })).rejects.toThrow(/EISDIR|truncated/);
      expect(readdirSync(out)).toEqual([]);
      return;
    }
    const src = freshDir();
    copyFileSync(fixtures.genai, join(src, 'model.onnx'));
    copyFileSync(fixtures.genai + '.data', join(src, 'model.onnx.data'));
    const m = await loadModel(join(src, 'model.onnx'));
    chmodSync(join(src, 'model.onnx.data'), 0o000);
    const out = freshDir();
    await expect(saveModel(m.model, join(out, 'x.onnx'), { sourceDir: m.dir })).rejects.toThrow(/cannot open external data file .*EACCES/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('refuses a data location outside the target folder', async () => {
    const t = makeTensor('w', DataType.FLOAT, [512], new Float32Array(512));
    const m: ModelProto = { irVersion: 8, graph: { name: 'g', initializer: [t] } };
    await expect(saveModel(m, join(freshDir(), 'm.onnx'), { externalData: { location: '../w.bin' } })).rejects.toThrow(/contains "\.\."/);
    const dir = freshDir();
    const elsewhere = freshDir();
    symlinkSync(elsewhere, join(dir, 'weights'));
    await expect(saveModel(m, join(dir, 'm.onnx'), { externalData: { location: 'weights/new/w.bin' } })).rejects.toThrow(/symbolic link.*outside the model folder/);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(readdirSync(dir)).toEqual(['weights']);
  });
});

describe('README', () => {
  it('runs the example on the genai fixture', async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const dir = freshDir();
    const lines = await runReadmeExample(here, [
      ["'@llm-bip/onnx-io'", JSON.stringify(join(here, 'index.js'))],
      ["loadModel('model.onnx')", `loadModel(${JSON.stringify(fixtures.genai)})`],
      ["saveModel(model, 'copy.onnx'", `saveModel(model, ${JSON.stringify(join(dir, 'copy.onnx'))}`],
    ]);
    expect(lines).toContain('model.embed_tokens.weight float16 8192,256');
    expect(lines.at(-1)).toMatch(/^\d+ tensors went to copy\.onnx\.data, \d+ bytes written$/);
    const copy = await loadModel(join(dir, 'copy.onnx'));
    expect(copy.model.graph!.initializer!.length).toBe(lines.length - 1);
  });
});
