/**
 * The datasets `llm-bip data fetch` downloads from the Hugging Face Hub, as data: which Hub file (repository,
 * pinned revision, path), where it lands in a data folder, and the sha256 it must have.
 *
 * Every Hub file is kept byte for byte as the Hub serves it (parquet, gzipped JSON lines); the readers read
 * those layouts (loadTextDataset: parquet `text` / `sentence`; the tasks: HF parquet rows; calibration:
 * .json.gz). A data folder may instead hold the development copy's files (`local`, the layout of
 * ../shared/data, documented in its README); either layout makes a set present.
 *
 * sha256 pins. The Hub's own sha256 of a file (its Git LFS object id) cannot be looked up offline, and the
 * development copies are not the Hub's bytes (they come from GitHub repositories and several were
 * converted), so their hashes cannot stand in for the Hub's. Where the Hub file's sha256 is known from two
 * public sources that pin the same file at the same revision, or from a Git LFS pointer of a copy of it,
 * it is pinned here (`sha256`). For the others the download is checked against the sha256 the Hub itself
 * declares for the file at the pinned revision (the `X-Linked-Etag` header of an LFS file, which is its
 * sha256), and that hash is recorded in the cache so `verify` can check the file later; `data list` shows
 * which files are pinned. Pinning the rest needs one look at the Hub from a connected machine
 * (`https://huggingface.co/api/datasets/REPO/revision/REV?blobs=true`, field `lfs.sha256`).
 */
import { perplexitySetFiles, type PerplexitySetName } from '../datasets/perplexity-files.js';
import { taskSplit } from '../tasks/hf-rows.js';
import { hellaswagJsonl, taskFiles } from '../tasks/loaders.js';
import { taskNames, type TaskName } from '../tasks/types.js';

export interface HubFile {
  /** dataset repository on the Hub, e.g. "Salesforce/wikitext" */
  repo: string;
  /** commit sha, or a branch where the Hub publishes the file only there (refs/convert/parquet) */
  revision: string;
  /** path inside the repository */
  file: string;
  /** where it lands inside a data folder (the cache is one), relative */
  path: string;
  /** the Hub file's sha256 when it is known offline (see the header); else the Hub's declared one is used */
  sha256?: string;
  bytes?: number;
  /** where the pin comes from */
  pinSource?: string;
}

export type DataSetName = PerplexitySetName | 'c4' | TaskName;

export interface DataSetSpec {
  name: DataSetName;
  /** one line: what it is and what reads it */
  what: string;
  licence: string;
  /** what `fetch` downloads */
  hub: HubFile[];
  /** other layouts that also make the set present in a data folder (the development copy's files), relative */
  local: string[][];
}

/** A task's Hub parquet inside a data folder: `tasks/<task>/<split>-00000-of-00001.parquet` (what findHfParquet reads). */
function taskParquetPath(task: TaskName): string {
  return `tasks/${task}/${taskSplit[task]}-00000-of-00001.parquet`;
}

const ARC = { repo: 'allenai/ai2_arc', revision: '210d026faf9955653af8916fad021475a3f00453' };
// pins cross-checked: two unrelated public projects pin these files with the same sha256 at this revision
const ARC_PIN = 'the same sha256 pinned by two independent public projects at this revision';

const taskHub: Record<TaskName, Omit<HubFile, 'path'>> = {
  boolq: { repo: 'aps/super_glue', revision: '3de24cf8022e94f4ee4b9d55a6f539891524d646', file: 'boolq/validation-00000-of-00001.parquet' },
  piqa: { repo: 'ybisk/piqa', revision: '078a131412f46a38025a762322c174a8bae2610c', file: 'plain_text/piqa-validation.parquet' },
  hellaswag: { repo: 'Rowan/hellaswag', revision: '218ec52e09a7e7462a5400043bb9a69a41d06b76', file: 'data/validation-00000-of-00001.parquet' },
  winogrande: { repo: 'allenai/winogrande', revision: '01e74176c63542e6b0bcb004dcdea22d94fb67b5', file: 'winogrande_xl/validation-00000-of-00001.parquet' },
  arc_easy: { ...ARC, file: 'ARC-Easy/test-00000-of-00001.parquet', sha256: '4160597d618ae851c7eb04e281574f3f654776216ac6b6641588d64527b47177', pinSource: ARC_PIN },
  arc_challenge: { ...ARC, file: 'ARC-Challenge/test-00000-of-00001.parquet', sha256: '62f03257e737aed263f55c6abf87c7bb0028a44a6bdd2a26eb1279eb42c1d1e9', pinSource: ARC_PIN },
  openbookqa: {
    repo: 'allenai/openbookqa',
    revision: '388097ea7776314e93a529163e0fea805b8a6454',
    file: 'main/test-00000-of-00001.parquet',
    sha256: 'cd5483e366daa230c1c87bbdc512d8b7229f14f6dd04d19fc8b1a3855aaaa8a3',
    pinSource: ARC_PIN,
  },
};

const taskWhat: Record<TaskName, string> = {
  boolq: 'BoolQ (SuperGLUE) validation, 3,270 items',
  piqa: 'PIQA validation, 1,838 items',
  hellaswag: 'HellaSwag validation, 10,042 items',
  winogrande: 'WinoGrande xl validation, 1,267 items',
  arc_easy: 'ARC-Easy test, 2,376 items',
  arc_challenge: 'ARC-Challenge test, 1,172 items',
  openbookqa: 'OpenBookQA main test, 500 items',
};

const taskLicence: Record<TaskName, string> = {
  boolq: 'CC BY-SA 3.0',
  piqa: 'AFL-3.0',
  hellaswag: 'MIT',
  winogrande: 'CC-BY',
  arc_easy: 'CC BY-SA 4.0',
  arc_challenge: 'CC BY-SA 4.0',
  openbookqa: 'Apache-2.0',
};

// the PTB text the Hub serves comes from ptb_text_only's parquet conversion (the repository itself holds a loading script)
const PTB = { repo: 'ptb-text-only/ptb_text_only', revision: 'refs/convert/parquet' };

export const DATA_SETS: readonly DataSetSpec[] = [
  {
    name: 'wikitext2',
    what: 'WikiText-2 raw test (perplexity)',
    licence: 'CC BY-SA 3.0',
    hub: [
      {
        repo: 'Salesforce/wikitext',
        revision: 'b08601e04326c79dfdd32d625aee71d232d685c3',
        file: 'wikitext-2-raw-v1/test-00000-of-00001.parquet',
        path: 'wikitext-2-raw-v1/test-00000-of-00001.parquet',
        sha256: '5f1bea067869d04849c0f975a2b29c4ff47d867f484f5010ea5e861eab246d91',
        bytes: 732610,
        pinSource: 'the Git LFS pointer of a copy of this file (oid and size)',
      },
    ],
    local: [[perplexitySetFiles.wikitext2]],
  },
  {
    name: 'ptb',
    what: 'PTB validation, ptb_text_only (perplexity, the peers\' default split)',
    licence: 'LDC Treebank-3 text, Mikolov preprocessing',
    hub: [{ ...PTB, file: 'penn_treebank/validation/0000.parquet', path: 'ptb/validation-00000-of-00001.parquet' }],
    local: [[perplexitySetFiles.ptb]],
  },
  {
    name: 'ptb-test',
    what: 'PTB test, ptb_text_only (perplexity on request)',
    licence: 'LDC Treebank-3 text, Mikolov preprocessing',
    hub: [{ ...PTB, file: 'penn_treebank/test/0000.parquet', path: 'ptb/test-00000-of-00001.parquet' }],
    local: [[perplexitySetFiles['ptb-test']]],
  },
  {
    name: 'c4',
    what: 'C4 en validation shard 0 of 8, 45,576 documents (calibration text)',
    licence: 'ODC-BY',
    hub: [
      {
        repo: 'allenai/c4',
        revision: '1588ec454efa1a09f29cd18ddd04fe05fc8653a2',
        file: 'en/c4-validation.00000-of-00008.json.gz',
        path: 'c4/c4-validation.00000-of-00008.json.gz',
      },
    ],
    local: [['c4/c4_sample.jsonl']],
  },
  ...taskNames.map(
    (task): DataSetSpec => ({
      name: task,
      what: `${taskWhat[task]} (zero-shot task)`,
      licence: taskLicence[task],
      hub: [{ ...taskHub[task], path: taskParquetPath(task) }],
      local: [taskFiles[task].map((f) => `tasks/${f}`), ...(task === 'hellaswag' ? [[`tasks/${hellaswagJsonl}`]] : [])],
    }),
  ),
];

export const dataSetNames: readonly DataSetName[] = DATA_SETS.map((s) => s.name);

export function isDataSetName(name: string): name is DataSetName {
  return (dataSetNames as readonly string[]).includes(name);
}

export function dataSet(name: DataSetName): DataSetSpec {
  return DATA_SETS.find((s) => s.name === name)!;
}

/** The Hub's download URL of a file: `{endpoint}/datasets/{repo}/resolve/{revision}/{file}` (a branch's "/" escaped). */
export function hubUrl(endpoint: string, f: Pick<HubFile, 'repo' | 'revision' | 'file'>): string {
  return `${endpoint.replace(/\/+$/, '')}/datasets/${f.repo}/resolve/${encodeURIComponent(f.revision)}/${f.file.split('/').map(encodeURIComponent).join('/')}`;
}
