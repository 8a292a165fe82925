/**
 * The model fingerprint a PruningPlan records, so that surgery refuses a plan made for another model.
 */
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { collectTensors, externalDataRef, isExternal, resolveExternalLocation, type ModelProto } from '@llm-bip/onnx-io';

/**
 * A cheap, stable fingerprint of a model: SHA-256 of the .onnx bytes and, for each external data
 * file, its name, size and first and last MiB (hashing gigabytes of weights would cost more than
 * the surgery).
 */
export async function modelFingerprint(path: string, model: ModelProto, dir: string): Promise<string> {
  const h = createHash('sha256');
  const file = await open(resolve(path), 'r');
  try {
    for await (const chunk of file.createReadStream()) h.update(chunk as Buffer);
  } finally {
    await file.close().catch(() => {});
  }
  const files = new Set<string>();
  for (const { tensor } of collectTensors(model)) if (isExternal(tensor)) files.add(externalDataRef(tensor).location);
  for (const loc of [...files].sort()) {
    const p = resolveExternalLocation(dir, loc);
    const size = (await stat(p)).size;
    h.update(`\0${loc}\0${size}\0`);
    const f = await open(p, 'r');
    try {
      const mib = 1 << 20;
      for (const at of size > 2 * mib ? [0, size - mib] : [0]) {
        const buf = Buffer.alloc(Math.min(size, size > 2 * mib ? mib : size));
        await f.read(buf, 0, buf.length, at);
        h.update(buf);
      }
    } finally {
      await f.close();
    }
  }
  return `sha256:${h.digest('hex')}`;
}
