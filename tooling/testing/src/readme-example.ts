import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { vi } from 'vitest';

/**
 * Run the first ```ts block of a package README as a test: each [from, to] replacement must match
 * (so a README edit cannot silently skip it), the code is imported from a temp file in the package's
 * src folder (so a replaced import like '@llm-bip/x' -> './index.js' resolves), and what it prints
 * with console.log comes back as lines.
 */
export async function runReadmeExample(srcDir: string, replacements: Array<[string, string]>): Promise<string[]> {
  const readme = readFileSync(join(srcDir, '..', 'README.md'), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error(`no \`\`\`ts block in ${join(srcDir, '..', 'README.md')}`);
  let code = block;
  for (const [from, to] of replacements) {
    if (!code.includes(from)) throw new Error(`README example no longer contains ${from}: update the test`);
    code = code.replace(from, to);
  }
  const file = join(srcDir, `.readme-example.${process.pid}.tmp.ts`);
  writeFileSync(file, code);
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
  try {
    await import(pathToFileURL(file).href);
  } finally {
    log.mockRestore();
    rmSync(file, { force: true });
  }
  return lines;
}
