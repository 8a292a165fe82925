import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import sibling packages from source, so `pnpm test` needs no build step.
const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@llm-bip/onnx-io': src('./packages/onnx-io/src/index.ts'),
      '@llm-bip/gguf': src('./packages/gguf/src/index.ts'),
      '@llm-bip/model': src('./packages/model/src/index.ts'),
      '@llm-bip/runtime': src('./packages/runtime/src/index.ts'),
      '@llm-bip/scoring': src('./packages/scoring/src/index.ts'),
      '@llm-bip/surgery': src('./packages/surgery/src/index.ts'),
      '@llm-bip/eval': src('./packages/eval/src/index.ts'),
      '@llm-bip/pipeline': src('./packages/pipeline/src/index.ts'),
      '@llm-bip/testing': src('./tooling/testing/src/index.ts'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'tooling/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // two cores on CI: keep heavy ORT sessions from fighting each other
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
