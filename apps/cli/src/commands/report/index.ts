import { readFile } from 'node:fs/promises';
import { requireExisting, soleArgument, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { CliError, ExitCode } from '../../errors.js';
import { writeFileAtomic } from '../../output.js';
import { assertOutputsDoNotReplaceInputs } from '../../output-identity.js';
import { renderReport, validateReportData } from '../../report/index.js';
import { outputOption } from '../shared-options.js';

export const reportCommand = defineCommand({
  name: 'report',
  summary: 'render results.json as one self-contained HTML page with plots',
  usage: 'RESULTS.json -o REPORT.html',
  description: 'The page has no scripts and loads nothing from the network: open it anywhere, attach it anywhere.',
  options: {
    ...outputOption('HTML file to write', true),
  },
  examples: [
    { command: 'llm-bip report out/results.json -o out/report.html', explain: 'redraw the report of a prune-llm run' },
  ],
  async run(ctx) {
    const input = soleArgument(ctx, 'RESULTS.json', 'report', 'give the results.json written by `llm-bip prune-llm`');
    const output = stringOption(ctx.values, 'output');
    if (!output) throw new CliError('missing -o REPORT.html: say where to write the page', ExitCode.usage);
    requireExisting(input, 'results file', 'file');
    assertOutputsDoNotReplaceInputs({ inputs: [input], outputFile: output });
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(input, 'utf8'));
    } catch (err) {
      throw new CliError(`${input} is not valid JSON (${(err as Error).message}): pass the results.json written by \`llm-bip prune-llm\``, ExitCode.input);
    }
    const data = validateReportData(parsed, input);
    const html = renderReport(data);
    await writeFileAtomic(output, html, { cleanup: ctx.cleanup, signal: ctx.signal });
    return { result: { output, bytes: Buffer.byteLength(html) }, text: `wrote ${output} (${Buffer.byteLength(html).toLocaleString('en-US')} bytes)` };
  },
});
