import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixtures } from '@llm-bip/testing';
import { decodeModel, encodeModel } from '../proto/codec.js';
import { DataType } from '../proto/types.js';
import { addGraphOutputs } from './add-graph-outputs.js';
import { cloneModel } from './clone.js';
import { setNodeAttribute } from './set-node-attribute.js';

describe('cloneModel', () => {
  it('gives a copy whose rewrites leave the original untouched, sharing tensor bytes', () => {
    const bytes = readFileSync(fixtures.torchscript);
    const original = decodeModel(bytes);
    const copy = cloneModel(original);
    expect(Buffer.compare(Buffer.from(encodeModel(copy)), bytes)).toBe(0);
    expect(copy.graph!.initializer![0]!.rawData).toBe(original.graph!.initializer![0]!.rawData);
    const mm = copy.graph!.node!.find((n) => n.opType === 'Transpose')!;
    setNodeAttribute(mm, 'perm', [0, 1, 2, 3].slice(0, mm.attribute![0]!.ints!.length));
    addGraphOutputs(copy.graph!, [{ name: mm.output![0]!, elemType: DataType.FLOAT16 }]);
    expect(Buffer.compare(Buffer.from(encodeModel(original)), bytes)).toBe(0);
    expect(encodeModel(copy).length).toBeGreaterThan(bytes.length);
  });
});
