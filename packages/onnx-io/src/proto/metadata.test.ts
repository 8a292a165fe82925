import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtures, tempDir } from '@llm-bip/testing';
import { f32, graph, model } from '../graph/graph.testutil.js';
import { decodeModel, encodeModel } from './codec.js';
import { readGraphOutputNames, readModelMetadata } from './metadata.js';

const tmp = tempDir('llm-bip-metadata-');
afterAll(tmp.cleanup);

describe('readModelMetadata', () => {
  it('reads metadata_props past a graph it does not decode, equal to the decoded ones', () => {
    const m = { ...model(graph({ initializers: [f32('w', [256, 256])], nodes: [] })), metadataProps: [{ key: 'a', value: 'x' }, { key: 'llm_bip.config', value: '{"maxPositionEmbeddings":64}' }] };
    const path = join(tmp.dir, 'm.onnx');
    writeFileSync(path, encodeModel(m));
    expect(Object.fromEntries(readModelMetadata(path))).toEqual({ a: 'x', 'llm_bip.config': '{"maxPositionEmbeddings":64}' });
  });

  it('a file that is not a model, or is missing, gives no entries', () => {
    const path = join(tmp.dir, 'junk.onnx');
    writeFileSync(path, Buffer.from([0xff, 0xff, 0xff, 0x07, 0x00]));
    expect(readModelMetadata(path).size).toBe(0);
    expect(readModelMetadata(join(tmp.dir, 'missing.onnx')).size).toBe(0);
  });
});

describe('readGraphOutputNames', () => {
  it('lists the graph outputs of the exporters\' fixtures in order, from the file and from bytes, as decoding does', () => {
    for (const path of [fixtures.genai, fixtures.torchscript]) {
      const bytes = readFileSync(path);
      const decoded = decodeModel(bytes).graph!.output!.map((o) => o.name);
      expect(decoded.length).toBeGreaterThan(0);
      expect(readGraphOutputNames(path)).toEqual(decoded);
      expect(readGraphOutputNames(new Uint8Array(bytes))).toEqual(decoded);
    }
    expect(readGraphOutputNames(fixtures.genai)).toContain('present.5.value');
  });

  it('a file that is not a model, or is missing, gives no names', () => {
    const path = join(tmp.dir, 'junk2.onnx');
    writeFileSync(path, Buffer.from([0xff, 0xff, 0xff, 0x07, 0x00]));
    expect(readGraphOutputNames(path)).toEqual([]);
    expect(readGraphOutputNames(join(tmp.dir, 'missing.onnx'))).toEqual([]);
  });
});
