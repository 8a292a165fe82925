// Request construction of lm-evaluation-harness (0.4 task YAMLs, zero-shot), one function per task.
// Every request's continuation is target_delimiter (" ") + the choice, except WinoGrande's partial scoring.
import { DatasetError } from '../errors.js';
import type { LoglikelihoodRequest, TaskItem } from './types.js';

const delimiter = ' ';

function multipleChoice(id: string, context: string, choices: string[], gold: number): TaskItem {
  if (!Number.isInteger(gold) || gold < 0 || gold >= choices.length) {
    throw new DatasetError(`item ${id}: gold index ${gold} is outside its ${choices.length} choices`);
  }
  const requests: LoglikelihoodRequest[] = choices.map((c) => ({ context, continuation: `${delimiter}${c}` }));
  return { id, requests, choices, gold };
}

/** super_glue/boolq: "{{passage}}\nQuestion: {{question}}?\nAnswer:", choices no/yes, label 1 = yes. */
export function boolqItem(doc: { passage: string; question: string; label: boolean | number; idx?: number }, index = 0): TaskItem {
  const label = typeof doc.label === 'boolean' ? (doc.label ? 1 : 0) : doc.label;
  return multipleChoice(String(doc.idx ?? index), `${doc.passage}\nQuestion: ${doc.question}?\nAnswer:`, ['no', 'yes'], label);
}

/** piqa: "Question: {{goal}}\nAnswer:", choices [sol1, sol2]. */
export function piqaItem(doc: { goal: string; sol1: string; sol2: string; id?: string }, label: number, index = 0): TaskItem {
  return multipleChoice(doc.id ?? String(index), `Question: ${doc.goal}\nAnswer:`, [doc.sol1, doc.sol2], label);
}

interface ArcChoices {
  text: string[];
  label: string[];
}
/** ARC / OBQA in either the original release form (question.stem, question.choices[]) or HF's. */
export interface ArcLikeDoc {
  id?: string;
  question: string | { stem: string; choices: { text: string; label: string }[] };
  question_stem?: string;
  choices?: ArcChoices;
  answerKey: string;
}

function arcParts(doc: ArcLikeDoc): { stem: string; choices: ArcChoices } {
  if (typeof doc.question === 'object') {
    return { stem: doc.question.stem, choices: { text: doc.question.choices.map((c) => c.text), label: doc.question.choices.map((c) => c.label) } };
  }
  if (!doc.choices) throw new DatasetError(`item ${doc.id ?? '?'}: no choices`);
  return { stem: doc.question_stem ?? doc.question, choices: doc.choices };
}

/** ai2_arc: "Question: {{question}}\nAnswer:", gold = choices.label.index(answerKey). */
export function arcItem(doc: ArcLikeDoc, index = 0): TaskItem {
  const { stem, choices } = arcParts(doc);
  return multipleChoice(doc.id ?? String(index), `Question: ${stem}\nAnswer:`, choices.text, choices.label.indexOf(doc.answerKey));
}

/** openbookqa: context is question_stem alone, gold = choices.label.index(answerKey.lstrip()). */
export function openbookqaItem(doc: ArcLikeDoc, index = 0): TaskItem {
  const { stem, choices } = arcParts(doc);
  return multipleChoice(doc.id ?? String(index), stem, choices.text, choices.label.indexOf(doc.answerKey.trimStart()));
}

/** hellaswag utils.preprocess: strip, " [title]" -> ". ", drop [..] tags, collapse double spaces (once, as re.sub/replace do). */
export function hellaswagPreprocess(text: string): string {
  return text
    .trim()
    .replaceAll(' [title]', '. ')
    .replace(/\[.*?\]/g, '')
    .replaceAll('  ', ' ');
}

/** Python str.capitalize(): first character upper-cased, the rest lower-cased. */
export function pythonCapitalize(s: string): string {
  return s.length ? s.charAt(0).toUpperCase() + s.slice(1).toLowerCase() : s;
}

/** hellaswag from the original jsonl: query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()). */
export function hellaswagItem(doc: { activity_label: string; ctx_a: string; ctx_b: string; endings: string[]; label: number | string; ind?: number }, index = 0): TaskItem {
  const ctx = `${doc.ctx_a} ${pythonCapitalize(doc.ctx_b)}`;
  return multipleChoice(String(doc.ind ?? index), hellaswagPreprocess(`${doc.activity_label}: ${ctx}`), doc.endings.map(hellaswagPreprocess), Number(doc.label));
}

/** hellaswag from the llama.cpp text export: the context line is already activity_label + ": " + ctx, preprocessed. */
export function hellaswagTextItem(doc: { context: string; endings: string[]; label: number }, index = 0): TaskItem {
  return multipleChoice(String(index), hellaswagPreprocess(doc.context), doc.endings.map(hellaswagPreprocess), doc.label);
}

/**
 * winogrande (partial scoring): for each option the context is the sentence up to the blank with the option
 * substituted; the continuation, shared by both, is " " + the rest of the sentence after the blank, stripped.
 * doc_to_choice returns the two partial contexts, which is what acc_norm would divide by.
 */
export function winograndeItem(doc: { sentence: string; option1: string; option2: string; answer: string | number }, index = 0): TaskItem {
  const blank = doc.sentence.indexOf('_');
  if (blank < 0) throw new DatasetError(`winogrande item ${index}: sentence has no "_" blank`);
  const contexts = [doc.sentence.slice(0, blank) + doc.option1, doc.sentence.slice(0, blank) + doc.option2];
  const target = doc.sentence.slice(blank + 1).trim();
  const gold = { '1': 0, '2': 1 }[String(doc.answer) as '1' | '2'];
  if (gold === undefined) throw new DatasetError(`winogrande item ${index}: answer must be "1" or "2", got ${JSON.stringify(doc.answer)}`);
  return {
    id: String(index),
    requests: contexts.map((context) => ({ context, continuation: `${delimiter}${target}` })),
    choices: contexts,
    gold,
  };
}
