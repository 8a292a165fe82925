/**
 * Preloaded (`--import`) into a spawned CLI by the fault tests: every FileHandle write waits
 * LLM_BIP_TEST_WRITE_DELAY_MS first, and while the file LLM_BIP_TEST_WRITE_GATE exists, so a signal can
 * land in the middle of a tiny model's surgery however loaded the machine is.
 */
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const delay = Number(process.env.LLM_BIP_TEST_WRITE_DELAY_MS ?? 0);
const gate = process.env.LLM_BIP_TEST_WRITE_GATE;
if (delay > 0 || gate) {
  const probe = await open(join(tmpdir(), `llm-bip-slow-writes-${process.pid}`), 'w');
  const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  const { unlink } = await import('node:fs/promises');
  await unlink(join(tmpdir(), `llm-bip-slow-writes-${process.pid}`));
  const write = proto.write;
  proto.write = async function (this: unknown, ...args: unknown[]) {
    await new Promise((r) => setTimeout(r, delay));
    while (gate && existsSync(gate)) await new Promise((r) => setTimeout(r, 10));
    return write.apply(this, args);
  };
}
