/**
 * Child process of tokenizer-families.slow.test.ts: encodes one text file with one tokenizer folder and
 * prints the digest as JSON. A whole text takes up to a minute of synchronous JavaScript; inside the test
 * worker it would block the worker's event loop past vitest's RPC timeout. Imports nothing of vitest's.
 *   node --conditions=source --import tsx packages/eval/src/tokenizer-families.encode.testutil.ts TOKENIZER_DIR TEXT_FILE
 */
import { readFileSync } from 'node:fs';
import { loadTokenizer } from './tokenizer.js';
import { digestOf } from './tokenizer-digest.testutil.js';

const [dir, textFile] = process.argv.slice(2) as [string, string];
const started = Date.now();
const digest = digestOf(loadTokenizer(dir).encode(readFileSync(textFile, 'utf8'), { addBos: false, addEos: false }));
process.stdout.write(`${JSON.stringify({ digest, seconds: (Date.now() - started) / 1000 })}\n`);
