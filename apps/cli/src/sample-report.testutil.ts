/** A ReportData like prune-llm writes, for the report tests (numbers made up, shapes real). */
import { mulberry32 } from '@llm-bip/scoring';
import { summariseScores } from './report/summary.js';
import { RESULTS_FORMAT, type ReportData } from './report/types.js';


export function sampleReport(numLayers = 8, options: { name?: string } = {}): ReportData {
  const hidden = 512;
  const heads = 8;
  const headDim = 64;
  const inter = 1376;
  const rand = mulberry32(42);
  const keptHeads = Array.from({ length: numLayers }, (_, i) => (i === 0 || i === numLayers - 1 ? heads : heads - 1 - (i % 3)));
  const keptCh = Array.from({ length: numLayers }, (_, i) => inter - 100 - ((i * 53) % 400));
  const perLayer = (h: number, c: number) => ({ attention: 4 * hidden * h * headDim, mlp: 3 * hidden * c });
  const densePer = keptHeads.map(() => perLayer(heads, inter));
  const prunedPer = keptHeads.map((h, i) => perLayer(h, keptCh[i]!));
  const emb = 32000 * hidden * 2;
  const sum = (xs: Array<{ attention: number; mlp: number }>, k: 'attention' | 'mlp') => xs.reduce((a, x) => a + x[k], 0);
  const norms = (2 * numLayers + 1) * hidden;
  const side = (xs: Array<{ attention: number; mlp: number }>) => ({
    attention: sum(xs, 'attention'),
    mlp: sum(xs, 'mlp'),
    embeddings: emb,
    total: sum(xs, 'attention') + sum(xs, 'mlp') + emb + norms,
    perLayer: xs,
  });
  return {
    format: RESULTS_FORMAT,
    model: { name: options.name ?? 'bip-llama-small', source: '../shared/testbed/bip-llama-small', flavour: 'llm-bip exporter, opset 17', numLayers, hiddenSize: hidden, vocabSize: 32000 },
    run: { tool: 'llm-bip', version: '0.1.0', createdAt: '2026-11-28T13:00:00Z', durationSec: 183.4, host: 'linux x64, 2 cores' },
    params: { dense: side(densePer), pruned: side(prunedPer) },
    plan: {
      criterion: 'llm-bip',
      ratio: 0.2,
      allocation: 'global-kind',
      headGranularity: 'head',
      compensation: true,
      calibration: { source: 'c4-sample.jsonl', samples: 128, seqLen: 128, seed: 0 },
      seed: 0,
      createdAt: '2026-11-28T12:58:00Z',
      notes: { lipschitz: 'per-token', powerIterations: 20 },
      layers: keptHeads.map((h, i) => ({
        layer: i,
        heads: { kept: h, total: heads },
        kvHeads: { kept: h, total: heads },
        channels: { kept: keptCh[i]!, total: inter },
      })),
    },
    scores: {
      unit: 'relative block-output change',
      layers: keptHeads.map((_, i) => {
        const scale = i === 0 ? 30 : 1 + i * 0.1;
        const hs = Array.from({ length: heads }, () => scale * 0.05 * (0.2 + rand()) ** 2);
        const cs = Array.from({ length: inter }, () => scale * 0.001 * Math.exp(2.5 * (rand() - 0.5) + 1.2 * (rand() - 0.5)));
        const sortedH = [...hs].sort((a, b) => a - b);
        const sortedC = [...cs].sort((a, b) => a - b);
        const hCut = heads - keptHeads[i]!;
        const cCut = inter - keptCh[i]!;
        return {
          layer: i,
          heads: summariseScores(hs, hCut > 0 ? { threshold: sortedH[hCut - 1]! } : {}),
          channels: summariseScores(cs, { threshold: sortedC[cCut - 1]! }),
        };
      }),
    },
    eval: {
      seqLen: 128,
      dense: {
        perplexity: { wikitext2: 76.96, ptb: 234.5 },
        tasks: { boolq: { acc: 0.6211 }, piqa: { acc: 0.6088, accNorm: 0.6012 }, hellaswag: { acc: 0.2801, accNorm: 0.2923 }, arc_easy: { acc: 0.4158, accNorm: 0.3801 } },
      },
      pruned: {
        perplexity: { wikitext2: 88.61, ptb: 272.4 },
        tasks: { boolq: { acc: 0.6034 }, piqa: { acc: 0.5952, accNorm: 0.5887 }, hellaswag: { acc: 0.2744, accNorm: 0.2851 }, arc_easy: { acc: 0.3977, accNorm: 0.3644 } },
      },
    },
    speed: {
      executionProvider: 'cpu',
      promptTokens: 128,
      decodeTokens: 32,
      batch: 1,
      dense: { prefillTokensPerSec: 2150.3, decodeTokensPerSec: 95.2 },
      pruned: { prefillTokensPerSec: 2611.8, decodeTokensPerSec: 118.7 },
    },
  };
}
