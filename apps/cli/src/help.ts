/** Help text, generated from the command definitions so it cannot drift from what is parsed. */
import type { Command, OptionSpec } from './command.js';

export const globalOptions: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print one JSON document on stdout (progress and logs off)' },
  quiet: { type: 'boolean', short: 'q', description: 'no progress bars or informational lines on stderr' },
  help: { type: 'boolean', short: 'h', description: 'show help (for a command: `llm-bip COMMAND --help`)' },
  version: { type: 'boolean', short: 'V', description: 'print the version' },
};

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    const desc = o.description + (o.defaultText ? ` (default: ${o.defaultText})` : '');
    return [flag, desc] as const;
  });
  const width = Math.min(34, Math.max(...rows.map(([f]) => f.length)));
  return rows.map(([f, d]) => (f.length > width ? `  ${f}\n  ${' '.repeat(width)}  ${d}` : `  ${f.padEnd(width)}  ${d}`));
}

export function commandHelp(cmd: Command): string {
  const lines = [`Usage: llm-bip ${cmd.name} ${cmd.usage}`, '', cmd.summary];
  if (cmd.description) lines.push('', cmd.description);
  if (Object.keys(cmd.options).length) lines.push('', 'Options:', ...optionLines(cmd.options));
  lines.push('', 'Global options:', ...optionLines(globalOptions));
  if (cmd.examples.length) {
    lines.push('', 'Examples:');
    for (const ex of cmd.examples) lines.push(`  # ${ex.explain}`, `  ${ex.command}`, '');
    lines.pop();
  }
  return `${lines.join('\n')}\n`;
}

export function mainHelp(commands: Command[], version: string): string {
  const visible = commands.filter((c) => !c.hidden);
  const width = Math.max(...visible.map((c) => c.name.length));
  return [
    `llm-bip ${version}: structured pruning of LLaMA-family ONNX models with LLM-BIP`,
    '',
    'Usage: llm-bip COMMAND [arguments] [options]',
    '',
    'Commands:',
    ...visible.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    ...optionLines(globalOptions),
    '',
    'Examples:',
    '  # the whole pipeline on the embedded demo model, dense vs pruned',
    '  llm-bip demo',
    '  # prune 20 % of a model with LLM-BIP scores and write model, plan, results and report',
    '  llm-bip prune-llm model.onnx --ratio 0.2 -o out/',
    '',
    'Run `llm-bip COMMAND --help` for a command\'s options and examples.',
    '',
  ].join('\n');
}
