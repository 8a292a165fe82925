/** What eval wires from the eval package (sessions and the evaluation itself: @llm-bip/pipeline). */
export {
  buildReport,
  formatReport,
  loadTokenizer,
  type TaskName,
} from '@llm-bip/eval';
