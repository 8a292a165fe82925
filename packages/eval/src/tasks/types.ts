/** One loglikelihood request, as lm-evaluation-harness builds it: score `continuation` after `context`. */
export interface LoglikelihoodRequest {
  context: string;
  continuation: string;
}

/** A multiple-choice item: one request per choice, the choice strings the harness normalises by, and the gold index. */
export interface TaskItem {
  id: string;
  requests: LoglikelihoodRequest[];
  /** doc_to_choice output: acc_norm divides by its length (characters), acc_bytes by its UTF-8 bytes. */
  choices: string[];
  gold: number;
}

export type TaskName = 'boolq' | 'piqa' | 'hellaswag' | 'winogrande' | 'arc_easy' | 'arc_challenge' | 'openbookqa';

export const taskNames: readonly TaskName[] = ['boolq', 'piqa', 'hellaswag', 'winogrande', 'arc_easy', 'arc_challenge', 'openbookqa'];
