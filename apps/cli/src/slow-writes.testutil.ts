/**
 * Preloaded (`--import`) into a spawned CLI by the fault tests: every FileHandle write waits
 * LLM_BIP_TEST_WRITE_DELAY_MS first, so a signal can land in the middle of a tiny model's surgery.
 */
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const delay = Number(process.env.LLM_BIP_TEST_WRITE_DELAY_MS ?? 0);
if (delay > 0) {
  const probe = await open(join(tmpdir(), `llm-bip-slow-writes-${process.pid}`), 'w');
  const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const { unlink } = await import('node:fs/promises');
  await unlink(join(tmpdir(), `llm-bip-slow-writes-${process.pid}`));
  const write = proto.write;
  proto.write = async function (this: unknown, ...args: unknown[]) {
    await new Promise((r) => setTimeout(r, delay));
    return write.apply(this, args);
  };
}
