// Expected requests are written by hand from the lm-evaluation-harness task YAMLs (zero-shot,
// target_delimiter " "): super_glue/boolq/default.yaml, piqa/piqa.yaml, arc/arc_easy.yaml,
// openbookqa/openbookqa.yaml, hellaswag/hellaswag.yaml + utils.py, winogrande/default.yaml + preprocess_winogrande.py.
import { describe, expect, it } from 'vitest';
import { DatasetError } from '../errors.js';
import { arcItem, boolqItem, hellaswagItem, hellaswagPreprocess, hellaswagTextItem, openbookqaItem, piqaItem, winograndeItem } from './templates.js';

describe('request construction matches the harness', () => {
  it('boolq: "{passage}\\nQuestion: {question}?\\nAnswer:" with " no" / " yes"', () => {
    const item = boolqItem({ passage: 'Ethanol fuel -- It burns.', question: 'does ethanol burn', label: true, idx: 7 });
    expect(item.requests).toEqual([
      { context: 'Ethanol fuel -- It burns.\nQuestion: does ethanol burn?\nAnswer:', continuation: ' no' },
      { context: 'Ethanol fuel -- It burns.\nQuestion: does ethanol burn?\nAnswer:', continuation: ' yes' },
    ]);
    expect(item.choices).toEqual(['no', 'yes']);
    expect(item.gold).toBe(1);
    expect(item.id).toBe('7');
    expect(boolqItem({ passage: 'p', question: 'q', label: false }).gold).toBe(0);
  });

  it('piqa: "Question: {goal}\\nAnswer:" with " sol1" / " sol2"', () => {
    const item = piqaItem({ goal: 'How do I open a jar?', sol1: 'Twist the lid.', sol2: 'Freeze the lid.' }, 0);
    expect(item.requests).toEqual([
      { context: 'Question: How do I open a jar?\nAnswer:', continuation: ' Twist the lid.' },
      { context: 'Question: How do I open a jar?\nAnswer:', continuation: ' Freeze the lid.' },
    ]);
    expect(item.gold).toBe(0);
  });

  it('arc: "Question: {stem}\\nAnswer:", gold = index of answerKey among labels (letters or digits)', () => {
    const doc = {
      id: 'Mercury_1',
      question: { stem: 'Which gas do plants take in?', choices: [{ text: 'oxygen', label: '1' }, { text: 'carbon dioxide', label: '2' }, { text: 'helium', label: '3' }] },
      answerKey: '2',
    };
    const item = arcItem(doc);
    expect(item.requests.map((r) => r.context)).toEqual(Array(3).fill('Question: Which gas do plants take in?\nAnswer:'));
    expect(item.requests.map((r) => r.continuation)).toEqual([' oxygen', ' carbon dioxide', ' helium']);
    expect(item.gold).toBe(1);
    expect(item.id).toBe('Mercury_1');
    // HF ai2_arc layout gives the same item
    const hf = arcItem({ id: 'Mercury_1', question: 'Which gas do plants take in?', choices: { text: ['oxygen', 'carbon dioxide', 'helium'], label: ['1', '2', '3'] }, answerKey: '2' });
    expect(hf).toEqual(item);
  });

  it('openbookqa: the bare question stem as context', () => {
    const item = openbookqaItem({
      id: '8-343',
      question: { stem: 'The sun is responsible for', choices: [{ text: 'puppies learning new tricks', label: 'A' }, { text: 'plants sprouting', label: 'B' }] },
      answerKey: ' B',
    });
    expect(item.requests).toEqual([
      { context: 'The sun is responsible for', continuation: ' puppies learning new tricks' },
      { context: 'The sun is responsible for', continuation: ' plants sprouting' },
    ]);
    expect(item.gold).toBe(1);
  });

  it('hellaswag: preprocess(activity_label: ctx_a + " " + ctx_b.capitalize()) and preprocessed endings', () => {
    const item = hellaswagItem({
      activity_label: 'Home and Garden',
      ctx_a: '[header] How to grow basil [title] Pick a sunny spot.',
      ctx_b: 'then, water it',
      endings: ['  daily [step] with care.', 'never.'],
      label: '0' as unknown as number,
    });
    // " [title]" -> ". ", "[header]" removed, "  " -> " ", strip; ctx_b capitalised
    expect(item.requests[0]).toEqual({ context: 'Home and Garden: How to grow basil. Pick a sunny spot. Then, water it', continuation: ' daily with care.' });
    expect(item.requests[1]!.continuation).toBe(' never.');
    expect(item.choices).toEqual(['daily with care.', 'never.']);
    expect(item.gold).toBe(0);
    expect(hellaswagPreprocess(' a [title] b ')).toBe('a. b');
  });

  it('hellaswag text export: the context line is used as is', () => {
    const item = hellaswagTextItem({ context: 'Roof shingle removal: A man is sitting on a roof. he', endings: ['is using wrap.', 'starts pulling up roofing.'], label: 1 });
    expect(item.requests).toEqual([
      { context: 'Roof shingle removal: A man is sitting on a roof. he', continuation: ' is using wrap.' },
      { context: 'Roof shingle removal: A man is sitting on a roof. he', continuation: ' starts pulling up roofing.' },
    ]);
    expect(item.gold).toBe(1);
  });

  it('winogrande: partial scoring, option substituted into the context, the rest after the blank as continuation', () => {
    const item = winograndeItem({ sentence: 'Sarah was a much better surgeon than Maria so _ always got the harder cases.', option1: 'Sarah', option2: 'Maria', answer: '1' });
    expect(item.requests).toEqual([
      { context: 'Sarah was a much better surgeon than Maria so Sarah', continuation: ' always got the harder cases.' },
      { context: 'Sarah was a much better surgeon than Maria so Maria', continuation: ' always got the harder cases.' },
    ]);
    expect(item.choices).toEqual(['Sarah was a much better surgeon than Maria so Sarah', 'Sarah was a much better surgeon than Maria so Maria']);
    expect(item.gold).toBe(0);
    // a blank at the end: the continuation is the delimiter plus the stripped remainder
    const end = winograndeItem({ sentence: 'The cup broke because _ .', option1: 'it', option2: 'she', answer: '2' });
    expect(end.requests[1]).toEqual({ context: 'The cup broke because she', continuation: ' .' });
    expect(end.gold).toBe(1);
    expect(() => winograndeItem({ sentence: 'no blank', option1: 'a', option2: 'b', answer: '1' })).toThrow(DatasetError);
  });

  it('a gold label outside the choices is a DatasetError', () => {
    expect(() => piqaItem({ goal: 'g', sol1: 'a', sol2: 'b' }, 2)).toThrow(/gold index 2 is outside its 2 choices/);
    expect(() => arcItem({ question: { stem: 's', choices: [{ text: 'a', label: 'A' }] }, answerKey: 'E' })).toThrow(DatasetError);
  });
});
