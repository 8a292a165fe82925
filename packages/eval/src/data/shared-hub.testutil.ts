// Test helper: ../shared/data rearranged into the Hub's layout (the catalogue's repositories and paths),
// in the Hub's formats: WikiText-2 and PTB as parquet rows, the C4 sample gzipped, WinoGrande as parquet.
// The catalogue entries keep their names and paths; their pins become the sha256 of these bytes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetFile } from '../datasets/parquet.testutil.js';
import { readJsonl, readPtbLines, readWikitextRows } from '../datasets/readers.js';
import { dataSet, type DataSetName, type DataSetSpec, type HubFile } from './catalogue.js';

export const SHARED_DATA = join(import.meta.dirname, '../../../../../shared/data');

export interface SharedHub {
  /** URL path -> bytes, for startLocalHub */
  files: Map<string, Buffer>;
  /** the catalogue of those sets, pinned to these bytes (except `unpinned`) */
  catalogue: DataSetSpec[];
  bytesOf(set: DataSetName): Buffer;
}

function urlPath(f: HubFile): string {
  return `/datasets/${f.repo}/resolve/${f.revision}/${f.file}`;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The Hub-format bytes of a few sets made from the development copy. */
export function sharedHub(opts: { unpinned?: DataSetName[] } = {}): SharedHub {
  const bytes = new Map<DataSetName, Buffer>([
    ['wikitext2', parquetFile({ text: readWikitextRows(join(SHARED_DATA, 'wikitext-2-raw-v1/wiki.test.raw')) })],
    ['ptb', parquetFile({ sentence: readPtbLines(join(SHARED_DATA, 'ptb/ptb.valid.txt')) })],
    ['c4', gzipSync(readFileSync(join(SHARED_DATA, 'c4/c4_sample.jsonl')))],
    [
      'winogrande',
      (() => {
        const docs = readJsonl<Record<string, string>>(join(SHARED_DATA, 'tasks/winogrande/dev.jsonl'));
        return parquetFile({ sentence: docs.map((d) => d.sentence!), option1: docs.map((d) => d.option1!), option2: docs.map((d) => d.option2!), answer: docs.map((d) => d.answer!) });
      })(),
    ],
  ]);
  const files = new Map<string, Buffer>();
  const catalogue = [...bytes.keys()].map((name): DataSetSpec => {
    const spec = dataSet(name);
    const b = bytes.get(name)!;
    const hub = spec.hub.map((f): HubFile => {
      files.set(urlPath(f), b);
      const { sha256: _pin, bytes: _size, ...rest } = f;
      return opts.unpinned?.includes(name) ? rest : { ...rest, sha256: sha256(b), bytes: b.length };
    });
    return { ...spec, hub };
  });
  return { files, catalogue, bytesOf: (s) => bytes.get(s)! };
}

