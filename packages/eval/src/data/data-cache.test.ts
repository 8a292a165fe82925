import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadTextDataset } from '../datasets/perplexity-sets.js';
import { readParquetRows } from '../datasets/readers.js';
import { findHfParquet, taskItemsFromHfRows } from '../tasks/hf-rows.js';
import { loadTaskItems } from '../tasks/loaders.js';
import { fetchDataSets, listDataSets, verifyDataSets } from './data-cache.js';
import { COMMIT, startLocalHub, type LocalHub } from './hub-server.testutil.js';
import { dataRoots, resolveDataSet } from './resolve.js';
import { SHARED_DATA, sharedHub } from './shared-hub.testutil.js';

const t = tempDir('llm-bip-data-');
// ptb left unpinned: checked against the sha256 the (local) Hub declares
const shared = sharedHub({ unpinned: ['ptb'] });
let hub: LocalHub;
beforeAll(async () => {
  hub = await startLocalHub(shared.files);
});
afterAll(async () => {
  await hub.close();
  t.cleanup();
});
afterEach(() => {
  hub.requests.length = 0;
  hub.declareSha = true;
});

let n = 0;
/** A fresh user cache per test, the Hub pointed at the local server. */
function envFor(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { LLM_BIP_CACHE: join(t.dir, `cache-${n++}`), LLM_BIP_HUB_URL: hub.endpoint, ...extra };
}
const opts = (env: NodeJS.ProcessEnv) => ({ env, catalogue: shared.catalogue });

describe('llm-bip data: fetch from the Hub into the cache', () => {
  it('fetches the sets in the Hub layout; the readers give the same text and items as the development copy', async () => {
    const env = envFor({ HF_TOKEN: 'hf_secret_token_123' });
    const results = await fetchDataSets(opts(env));
    expect(results.map((r) => [r.set, r.action, r.pinned])).toEqual([
      ['wikitext2', 'fetched', true],
      ['ptb', 'fetched', false],
      ['c4', 'fetched', true],
      ['winogrande', 'fetched', true],
    ]);
    expect(results.find((r) => r.set === 'ptb')!.commit).toBe(COMMIT);
    for (const r of results) expect(readFileSync(r.path).equals(shared.bytesOf(r.set))).toBe(true);
    // the token goes to the Hub and nowhere else
    expect(hub.requests.every((r) => r.authorization === 'Bearer hf_secret_token_123')).toBe(true);
    expect(JSON.stringify(results)).not.toContain('hf_secret');

    const roots = dataRoots({ env, devDir: SHARED_DATA });
    const wiki = resolveDataSet('wikitext2', roots)!;
    expect([wiki.root.kind, wiki.layout]).toEqual(['cache', 'hub']);
    const fromHub = await loadTextDataset('wikitext2', wiki.files[0]!);
    const fromDev = await loadTextDataset('wikitext2', join(SHARED_DATA, 'wikitext-2-raw-v1/wiki.test.raw'));
    expect(fromHub.text.length).toBeGreaterThan(1_000_000);
    expect(fromHub.text).toBe(fromDev.text);
    const ptb = resolveDataSet('ptb', roots)!;
    expect((await loadTextDataset('ptb', ptb.files[0]!)).text).toBe((await loadTextDataset('ptb', join(SHARED_DATA, 'ptb/ptb.valid.txt'))).text);
    expect(resolveDataSet('c4', roots)!.files[0]).toMatch(/c4-validation\.00000-of-00008\.json\.gz$/);
    const wino = resolveDataSet('winogrande', roots)!;
    const parquet = findHfParquet('winogrande', join(wino.root.dir, 'tasks'))!;
    const items = taskItemsFromHfRows('winogrande', await readParquetRows(parquet));
    expect(items).toHaveLength(1267);
    expect(items).toEqual(loadTaskItems('winogrande', join(SHARED_DATA, 'tasks')));
    // sets not fetched still come from the development copy, last in the order
    expect(resolveDataSet('boolq', roots)!.root.kind).toBe('dev');

    // a second fetch hashes what is there and downloads nothing
    hub.requests.length = 0;
    expect((await fetchDataSets(opts(env))).map((r) => r.action)).toEqual(['cached', 'cached', 'cached', 'cached']);
    expect(hub.requests).toEqual([]);
    const listed = await listDataSets({ ...opts(env), location: roots });
    expect(listed.map((s) => [s.name, s.files[0]!.state, s.resolved?.root.kind])).toEqual([
      ['wikitext2', 'present', 'cache'],
      ['ptb', 'present', 'cache'],
      ['c4', 'present', 'cache'],
      ['winogrande', 'present', 'cache'],
    ]);
    expect((await verifyDataSets(opts(env))).map((f) => f.state)).toEqual(['ok', 'ok', 'ok', 'ok']);
  });

  it('an interrupted download leaves only a .part; the next fetch resumes it with a Range request', async () => {
    const env = envFor();
    const only = { ...opts(env), sets: ['wikitext2' as const] };
    const path = [...shared.files.keys()].find((p) => p.includes('Salesforce/wikitext'))!;
    hub.cutOnce(path, 300_000);
    await expect(fetchDataSets({ ...only, retries: 0 })).rejects.toThrow(/connection closed.*bytes kept in .*\.part: run fetch again to resume/);
    const dir = join(env.LLM_BIP_CACHE!, 'data', 'wikitext-2-raw-v1');
    expect(readdirSync(dir)).toEqual(['test-00000-of-00001.parquet.part']);
    const kept = readFileSync(join(dir, 'test-00000-of-00001.parquet.part')).length;
    expect(kept).toBeGreaterThanOrEqual(300_000);
    expect(kept).toBeLessThan(shared.bytesOf('wikitext2').length);
    expect(resolveDataSet('wikitext2', dataRoots({ env }))).toBeUndefined();

    hub.requests.length = 0;
    const [r] = await fetchDataSets(only);
    expect(hub.requests.filter((q) => q.method === 'GET').map((q) => q.range)).toEqual([`bytes=${kept}-`]);
    expect(readFileSync(r!.path).equals(shared.bytesOf('wikitext2'))).toBe(true);
    expect(readdirSync(dir)).toEqual(['test-00000-of-00001.parquet']);
  });

  it('with retries, a cut transfer resumes within the same fetch', async () => {
    const env = envFor();
    const path = [...shared.files.keys()].find((p) => p.includes('allenai/c4'))!;
    hub.cutOnce(path, 100_000);
    const lines: string[] = [];
    const [r] = await fetchDataSets({ ...opts(env), sets: ['c4'], log: (l) => lines.push(l) });
    expect(readFileSync(r!.path).equals(shared.bytesOf('c4'))).toBe(true);
    expect(lines.join('\n')).toMatch(/resuming from byte/);
    expect(hub.requests.filter((q) => q.method === 'GET').map((q) => q.range)).toEqual([undefined, expect.stringMatching(/^bytes=\d+-$/)]);
  });

  it('refuses bytes whose sha256 is not the pinned one, and keeps nothing', async () => {
    const env = envFor();
    const wrong = shared.catalogue.map((s) => (s.name === 'wikitext2' ? { ...s, hub: s.hub.map((f) => ({ ...f, sha256: '0'.repeat(64) })) } : s));
    // the Hub declares another sha256: refused before any byte is downloaded
    await expect(fetchDataSets({ env, catalogue: wrong, sets: ['wikitext2'] })).rejects.toThrow(/the Hub declares sha256 [0-9a-f]{64}, not the pinned 0{64}.*nothing was downloaded/);
    expect(hub.requests.filter((q) => q.method === 'GET')).toEqual([]);
    // a Hub that declares nothing: downloaded, hashed, deleted
    hub.declareSha = false;
    await expect(fetchDataSets({ env, catalogue: wrong, sets: ['wikitext2'] })).rejects.toThrow(/sha256 mismatch: got [0-9a-f]{64}, expected 0{64} \(pinned in llm-bip\); the download was deleted/);
    const d = join(env.LLM_BIP_CACHE!, 'data', 'wikitext-2-raw-v1');
    expect(existsSync(d) ? readdirSync(d) : []).toEqual([]);
    // neither pinned nor declared: nothing to check against, nothing downloaded
    hub.requests.length = 0;
    await expect(fetchDataSets({ ...opts(env), sets: ['ptb'] })).rejects.toThrow(/no sha256 to check it against/);
    expect(hub.requests.filter((q) => q.method === 'GET')).toEqual([]);
  });

  it('verify finds a flipped byte; fetch replaces the corrupt file', async () => {
    const env = envFor();
    const [wiki, ptb] = await fetchDataSets({ ...opts(env), sets: ['wikitext2', 'ptb'] });
    for (const f of [wiki!.path, ptb!.path]) {
      const b = readFileSync(f);
      b[1000] = b[1000]! ^ 0x01;
      writeFileSync(f, b);
    }
    const v = await verifyDataSets({ ...opts(env), sets: ['wikitext2', 'ptb'] });
    // the pinned file against its pin, the unpinned one against the sha256 recorded at fetch time
    expect(v.map((f) => [f.set, f.state, f.pinned])).toEqual([
      ['wikitext2', 'corrupt', true],
      ['ptb', 'corrupt', false],
    ]);
    const again = await fetchDataSets({ ...opts(env), sets: ['wikitext2', 'ptb'] });
    expect(again.map((r) => r.action)).toEqual(['fetched', 'fetched']);
    expect((await verifyDataSets({ ...opts(env), sets: ['wikitext2', 'ptb'] })).map((f) => f.state)).toEqual(['ok', 'ok']);
  });

  it('unreachable Hub: says what to do instead', async () => {
    // a port that was free a moment ago: nothing listens there
    const port = await new Promise<number>((res) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    const env = envFor({ LLM_BIP_HUB_URL: `http://127.0.0.1:${port}` });
    const err = await fetchDataSets({ ...opts(env), sets: ['c4'] }).catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'DataFetchError', category: 'input' });
    expect((err as Error).message).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*Run `llm-bip data fetch` on a connected machine.*--data DIR \/ set \$LLM_BIP_DATA/);
  });

  it('a missing file on the Hub and HF_ENDPOINT as the base URL', async () => {
    const env = { LLM_BIP_CACHE: join(t.dir, `cache-${n++}`), HF_ENDPOINT: hub.endpoint };
    const boolq = { name: 'boolq' as const, what: '', licence: '', local: [], hub: [{ repo: 'x/y', revision: 'main', file: 'nope.parquet', path: 'tasks/boolq/validation-00000-of-00001.parquet' }] };
    await expect(fetchDataSets({ env, catalogue: [boolq] })).rejects.toThrow(/datasets\/x\/y\/resolve\/main\/nope\.parquet: HTTP 404/);
  });
});

describe('data resolution order', () => {
  function folder(name: string, sets: ('wiki' | 'ptb')[]): string {
    const dir = join(t.dir, 'roots', name);
    const files = { wiki: 'wikitext-2-raw-v1/wiki.test.raw', ptb: 'ptb/validation-00000-of-00001.parquet' };
    for (const s of sets) {
      mkdirSync(dirname(join(dir, files[s])), { recursive: true });
      writeFileSync(join(dir, files[s]), 'x');
    }
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  it('$LLM_BIP_DATA, then the cache, then the development copy, per set; --data alone when given', () => {
    const option = folder('option', ['wiki']);
    const envDir = folder('env', ['wiki', 'ptb']);
    const cache = join(t.dir, 'roots', 'user-cache');
    folder('user-cache/data', ['wiki', 'ptb']);
    const dev = folder('dev', ['wiki', 'ptb']);
    const roots = (o: string | undefined, env: NodeJS.ProcessEnv) => dataRoots({ option: o, env, devDir: dev });
    const kind = (set: 'wikitext2' | 'ptb', r: ReturnType<typeof roots>) => resolveDataSet(set, r)?.root.kind;
    expect(kind('wikitext2', roots(option, { LLM_BIP_DATA: envDir, LLM_BIP_CACHE: cache }))).toBe('option');
    // --data is this command's explicit choice: a set it lacks is missing, not taken from elsewhere
    expect(kind('ptb', roots(option, { LLM_BIP_DATA: envDir, LLM_BIP_CACHE: cache }))).toBeUndefined();
    expect(kind('ptb', roots(undefined, { LLM_BIP_DATA: option, LLM_BIP_CACHE: cache }))).toBe('cache');
    expect(kind('wikitext2', roots(undefined, { LLM_BIP_DATA: option, LLM_BIP_CACHE: cache }))).toBe('env');
    expect(kind('ptb', roots(undefined, { LLM_BIP_DATA: envDir, LLM_BIP_CACHE: cache }))).toBe('env');
    expect(kind('ptb', roots(undefined, { LLM_BIP_CACHE: join(t.dir, 'roots', 'empty-cache') }))).toBe('dev');
    expect(resolveDataSet('ptb', roots(undefined, { LLM_BIP_CACHE: cache }))!.files[0]).toBe(join(cache, 'data', 'ptb/validation-00000-of-00001.parquet'));
  });

  it('the error names every missing set, where it looked, and the fetch command', async () => {
    const { requireDataSets } = await import('./resolve.js');
    const empty = folder('nothing', []);
    const env = { LLM_BIP_CACHE: join(t.dir, 'roots', 'no-cache') };
    expect(() => requireDataSets(['wikitext2', 'ptb', 'c4', 'piqa'], dataRoots({ env: { ...env, LLM_BIP_DATA: empty } }))).toThrow(
      new RegExp(`datasets not found: wikitext2, ptb, c4, piqa \\(looked in ${empty} \\(\\$LLM_BIP_DATA\\), .*no-cache/data \\(the data cache\\)\\)\\. Fetch them with \`llm-bip data fetch wikitext2 ptb c4 piqa\``),
    );
    expect(() => requireDataSets(['ptb'], dataRoots({ option: empty, env }))).toThrow(`dataset not found: ptb (looked in ${empty} (--data))`);
  });
});
