/**
 * The CLI face of the criterion registry: --criterion's choices, one flag per declared criterion
 * option (the kebab-case of its name, with its help, choices and default), --select-criterion, and --plugin to add a
 * user's criterion module before any of that is read. Nothing here names a criterion.
 */
import { criteriaDeclaring, criterionOptionFlag, getCriterion, listCriteria, loadCriterionPlugin, parseCriterionOption, type CriterionOption } from '@llm-bip/scoring';
import { DEFAULTS } from '@llm-bip/pipeline';
import { booleanOption, parseChoice, stringOption } from '../args.js';
import type { CommandContext, OptionSpec } from '../command.js';
import { UsageError } from '../errors.js';

export const pluginOption: Record<string, OptionSpec> = {
  plugin: {
    type: 'string',
    multiple: true,
    value: 'FILE',
    description: 'a criterion module (.js / .mjs) to register: its default export, or its `criterion` / `criteria` export (repeatable)',
  },
};

export function criterionNames(): string[] {
  return listCriteria().map((c) => c.name);
}

/** --criterion, with today's registry as its choices (plug-ins included once loaded). */
export function criterionOption(): Record<string, OptionSpec> {
  return { criterion: { type: 'string', value: 'NAME', description: `importance criterion: ${criterionNames().join(' | ')}`, defaultText: DEFAULTS.criterion } };
}

/** One flag per declared option of every registered criterion; flags the command has already (--seed) feed `defaultFrom` options instead. */
export function criterionFlags(commandOptions: Record<string, OptionSpec>): Record<string, OptionSpec> {
  const out: Record<string, OptionSpec> = {};
  for (const c of listCriteria()) {
    for (const o of c.options ?? []) {
      const flag = criterionOptionFlag(o.name);
      if (o.type === 'object' || flag in out) continue;
      if (flag in commandOptions) {
        // random's seed: the command's --seed is the value (defaultFrom); any other clash would be a dead flag
        if (o.defaultFrom) continue;
        throw new UsageError(`criterion "${c.name}" declares option ${o.name}, but --${flag} is already an option of this command: rename the option`);
      }
      out[flag] = {
        type: o.type === 'boolean' ? 'boolean' : 'string',
        ...(o.type === 'boolean' ? {} : { value: o.valueName ?? 'VALUE' }),
        description: o.help,
        ...(o.default !== undefined ? { defaultText: String(o.default) } : {}),
      };
    }
  }
  return out;
}

/** The chosen criterion (a usage error lists the registered ones). */
export function parseCriterion(ctx: CommandContext): string {
  return parseChoice(stringOption(ctx.values, 'criterion'), '--criterion', criterionNames(), DEFAULTS.criterion);
}

/** --select-criterion: a registered criterion, and only with --sequential (it chooses inside the sequential pass's blocks). */
export function parseSelectCriterion(ctx: CommandContext): string | undefined {
  const raw = stringOption(ctx.values, 'select-criterion');
  if (raw === undefined) return undefined;
  if (!booleanOption(ctx.values, 'sequential')) throw new UsageError('--select-criterion chooses inside each block of the sequential pass: add --sequential, or leave it out');
  return parseChoice(raw, '--select-criterion', criterionNames(), DEFAULTS.criterion);
}

/** The criterion's options from its flags; a flag of another criterion's option is a usage error naming that criterion. */
export function parseCriterionOptions(ctx: CommandContext, criterionName: string, commandOptions: Record<string, OptionSpec>): Record<string, unknown> | undefined {
  const criterion = getCriterion(criterionName);
  const own = new Map((criterion.options ?? []).map((o) => [criterionOptionFlag(o.name), o] as const));
  const out: Record<string, unknown> = {};
  for (const flag of Object.keys(criterionFlags(commandOptions))) {
    const raw = ctx.values[flag];
    if (raw === undefined) continue;
    const o: CriterionOption | undefined = own.get(flag);
    if (!o) {
      const owners = criteriaDeclaring(optionNameOf(flag)).map((c) => `--criterion ${c.name}`);
      throw new UsageError(`--${flag} only applies to ${owners.join(' or ')}`);
    }
    const text = typeof raw === 'boolean' ? String(raw) : stringOption(ctx.values, flag)!;
    if (o.choices && !o.choices.includes(text)) throw new UsageError(`--${flag} must be one of ${o.choices.join(', ')}; got "${text}"`);
    try {
      out[o.name] = parseCriterionOption(criterion, o, text);
    } catch (e) {
      throw new UsageError(`--${flag}: ${(e as Error).message}`);
    }
  }
  return Object.keys(out).length ? out : undefined;
}

function optionNameOf(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
}

/** Register the --plugin modules named in raw argv (before the command's flags are parsed, so their options exist). */
export async function loadPlugins(args: string[], cwd: string): Promise<void> {
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a === '--plugin' && args[i + 1] !== undefined) files.push(args[++i]!);
    else if (a.startsWith('--plugin=')) files.push(a.slice('--plugin='.length));
  }
  for (const f of files) await loadCriterionPlugin(f, cwd);
}

