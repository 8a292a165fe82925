// `llm-bip data` through the CLI frame, against a local stand-in for the Hub (127.0.0.1) serving
// ../shared/data rearranged into the Hub's layout at the real catalogue's URLs.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalHub, type LocalHub } from '../../../../../packages/eval/src/data/hub-server.testutil.js';
import { sharedHub } from '../../../../../packages/eval/src/data/shared-hub.testutil.js';
import { cli } from '../../capture.testutil.js';
import { ExitCode } from '../../errors.js';

const t = tempDir('llm-bip-cli-data-');
const shared = sharedHub();
let hub: LocalHub;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  hub = await startLocalHub(shared.files);
  env = { HOME: t.dir, LLM_BIP_CACHE: join(t.dir, 'cache'), LLM_BIP_HUB_URL: hub.endpoint, HF_TOKEN: 'hf_do_not_print_me' };
});
afterAll(async () => {
  await hub.close();
  t.cleanup();
});

describe('llm-bip data', () => {
  it('fetch: downloads into the cache, checked against the sha256 the Hub declares; --json', async () => {
    const r = await cli(['data', 'fetch', 'ptb', 'c4', '--json'], { env });
    expect(r.code, r.stderr).toBe(ExitCode.ok);
    const doc = JSON.parse(r.stdout) as { ok: boolean; result: { cache: string; files: { set: string; action: string; path: string; pinned: boolean }[] } };
    expect(doc.ok).toBe(true);
    expect(doc.result.cache).toBe(join(t.dir, 'cache', 'data'));
    expect(doc.result.files.map((f) => [f.set, f.action, f.pinned])).toEqual([
      ['ptb', 'fetched', false],
      ['c4', 'fetched', false],
    ]);
    expect(readFileSync(doc.result.files[1]!.path).equals(shared.bytesOf('c4'))).toBe(true);
    expect(r.stdout + r.stderr).not.toContain('hf_do_not_print_me');

    const again = await cli(['data', 'fetch', 'ptb'], { env });
    expect(again.code).toBe(ExitCode.ok);
    expect(again.stdout).toMatch(/^cached  ptb +.*ptb\/validation-00000-of-00001\.parquet +\([\d,]+ bytes, sha256 [0-9a-f]{12}…, declared by the Hub, commit c0ffee0000\)/);
  });

  it('list: what is cached and where each set is read from', async () => {
    const r = await cli(['data', 'list'], { env });
    expect(r.code, r.stderr).toBe(ExitCode.ok);
    expect(r.stdout).toContain(`data cache: ${join(t.dir, 'cache', 'data')}   (Hub: ${hub.endpoint})`);
    expect(r.stdout).toMatch(/\nptb +yes +0\.\d\d MB +from the Hub +cache \(.*ptb\/validation-00000-of-00001\.parquet\)/);
    // not fetched: read from the development copy beside the checkout
    expect(r.stdout).toMatch(/\nwikitext2 +no +- +pinned +development copy \(.*shared\/data\/wikitext-2-raw-v1\/wiki\.test\.raw\)/);
    const j = JSON.parse((await cli(['data', 'list', 'c4', '--json'], { env })).stdout) as { result: { sets: { name: string; files: { state: string }[] }[] } };
    expect(j.result.sets.map((s) => [s.name, s.files[0]!.state])).toEqual([['c4', 'present']]);
  });

  it('verify: a flipped byte fails with the command that fixes it; fetch replaces the file', async () => {
    const path = join(t.dir, 'cache', 'data', 'c4', 'c4-validation.00000-of-00008.json.gz');
    const b = readFileSync(path);
    b[500] = b[500]! ^ 0x10;
    writeFileSync(path, b);
    const bad = await cli(['data', 'verify'], { env });
    expect(bad.code).toBe(ExitCode.input);
    expect(bad.stderr).toMatch(/CORRUPT +c4 /);
    expect(bad.stderr).toContain('1 cached file failed the check: run `llm-bip data fetch c4` to fetch it again');
    const fixed = await cli(['data', 'fetch', 'c4'], { env });
    expect(fixed.code, fixed.stderr).toBe(ExitCode.ok);
    expect(fixed.stderr).toMatch(/c4: .* has sha256 [0-9a-f]{64}, not [0-9a-f]{64}: fetching it again/);
    const ok = await cli(['data', 'verify', 'ptb', 'c4'], { env });
    expect(ok.code).toBe(ExitCode.ok);
    expect(ok.stdout.trim().split('\n').map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual(['ok ptb', 'ok c4']);
  });

  it('a file that is not the pinned one is refused (exit 3), nothing kept', async () => {
    // the local Hub serves WikiText-2 made from the development copy, not the Hub's parquet pinned in llm-bip
    const r = await cli(['data', 'fetch', 'wikitext2'], { env });
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toMatch(/the Hub declares sha256 [0-9a-f]{64}, not the pinned 5f1bea06[0-9a-f]{56}.*nothing was downloaded/);
  });

  it('offline: exit 3 and what to do instead', async () => {
    const port = await new Promise<number>((res) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    const r = await cli(['data', 'fetch', 'boolq'], { env: { ...env, LLM_BIP_HUB_URL: `http://127.0.0.1:${port}` } });
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toContain('this machine looks offline or the Hub is unreachable. Run `llm-bip data fetch` on a connected machine');
  });

  it('usage errors name the choices', async () => {
    const a = await cli(['data', 'download'], { env });
    expect(a.code).toBe(ExitCode.usage);
    expect(a.stderr).toContain('data download: unknown; choose one of list, fetch, verify');
    const b = await cli(['data', 'fetch', 'wikitext3'], { env });
    expect(b.code).toBe(ExitCode.usage);
    expect(b.stderr).toContain('unknown dataset "wikitext3": choose from wikitext2, ptb, ptb-test, c4, boolq');
  });
});
