export {
  buildLlamaGraph,
  ioNames,
  EXPORTER_NAME,
  EXPORTER_VERSION,
  EXPORT_OPSET,
  type ExportDtype,
  type LlamaGraph,
  type LlamaGraphOptions,
  type WeightSlot,
} from './llama-graph.js';
export { exportLlamaToOnnx, buildLlamaOnnx, ExportError, type ExportOptions, type ExportResult, type WeightLookup } from './export.js';
