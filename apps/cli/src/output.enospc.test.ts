/** Disk full: the write fails with ENOSPC; the message says so and no temp file is left behind. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { describe, expect, it, vi } from 'vitest';

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const full = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  return {
    ...real,
    // files whose name contains FULL are on a "full disk": opening works, writing fails
    open: async (path: string, flags?: string) => {
      const fh = await real.open(path, flags);
      if (!String(path).includes('FULL')) return fh;
      return { write: async () => Promise.reject(full()), writeFile: async () => Promise.reject(full()), sync: () => fh.sync(), datasync: () => fh.datasync(), close: () => fh.close() };
    },
  };
});

const { writeFileAtomic, OutputSet } = await import('./output.js');
const { CleanupRegistry } = await import('./cleanup.js');
const { toCliError } = await import('./errors.js');
const { saveModel, makeTensor, DataType } = await import('@llm-bip/onnx-io');

describe('disk full', () => {
  it('writeFileAtomic: "disk full" message, exit 4, temp file removed, old file untouched', async () => {
    const t = tempDir();
    try {
      const err = await writeFileAtomic(join(t.dir, 'FULL.json'), '{}').catch((e: unknown) => e);
      expect(err).toMatchObject({ exitCode: 4, message: `disk full while writing ${join(t.dir, 'FULL.json')}: free some space or choose another output folder with -o` });
      expect(readdirSync(t.dir)).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  it('OutputSet.write: "disk full" names the final path; cleanup removes the staging folder', async () => {
    const t = tempDir();
    try {
      const cleanup = new CleanupRegistry();
      const out = await OutputSet.open(join(t.dir, 'out'), cleanup);
      const err = await out.write('FULL.onnx', 'x').catch((e: unknown) => e);
      expect(err).toMatchObject({ exitCode: 4, message: expect.stringContaining(`disk full while writing ${join(t.dir, 'out', 'FULL.onnx')}`) });
      cleanup.removeAll();
      expect(readdirSync(t.dir)).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  it('a model write (data file in a staging folder) names the final data file, not the temp file', async () => {
    const t = tempDir();
    try {
      const cleanup = new CleanupRegistry();
      const out = await OutputSet.open(join(t.dir, 'out'), cleanup);
      const w = makeTensor('w', DataType.FLOAT, [1024], new Float32Array(1024));
      const model = { irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name: 'g', node: [], initializer: [w], output: [] } };
      const err = await saveModel(model, out.path('FULL.onnx')).catch((e: unknown) => e);
      expect(toCliError(err).message).toBe(`disk full while writing ${join(t.dir, 'out', 'FULL.onnx.data')}: free some space or choose another output folder with -o`);
      await out.discard();
      expect(readdirSync(t.dir)).toEqual([]); // no temp file left; the folder open created is gone again
    } finally {
      t.cleanup();
    }
  });
});
