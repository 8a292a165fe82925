#!/usr/bin/env python3
"""PyTorch reference for llm-bip's evaluation protocol (parity checks of packages/eval).

Computes, on an HF model folder and local files only (no network):
  * perplexity with the peers' protocol: "\\n\\n".join(rows), tokenize once (tokenizer defaults: BOS),
    non-overlapping windows of --seq-len tokens, trailing partial window dropped, exp(mean token NLL);
    WikiText-2 raw test (rows rule of shared/data/README.md) and PTB validation (stripped lines);
  * per-choice log-likelihoods of the first --items items of each zero-shot task, with
    lm-evaluation-harness request construction (zero-shot, target delimiter " ", _encode_pair,
    no BOS unless --add-bos), and acc / acc_norm (chars) / acc_bytes on those items.

Writes JSON to --out. With --compare OURS.json (the JSON of `llm-bip eval ... --json`, i.e.
@llm-bip/eval's buildReport with tasks evaluated with logSamples) it also prints the relative
perplexity differences and the largest absolute per-choice log-likelihood difference per task.

Example (GPU machine):
  python tooling/scripts/torch_eval_reference.py --model ../shared/testbed/bip-llama-tiny \\
      --data ../shared/data --out torch-ref.tiny.json --device cuda
"""
import argparse
import bz2
import json
import math
import os
import re
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

TASKS = ["boolq", "piqa", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "openbookqa"]


# ---------------------------------------------------------------- data

def read_lines(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n") if text else []


def wikitext_text(path):
    rows = [l + "\n" if l.strip() else "" for l in read_lines(path)]
    return "\n\n".join(rows)


def ptb_text(path):
    return "\n\n".join(l.strip() for l in read_lines(path))


def read_jsonl(path):
    return [json.loads(l) for l in read_lines(path) if l.strip()]


def hellaswag_preprocess(text):
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    text = text.replace("  ", " ")
    return text


def mc(item_id, context, choices, gold):
    return {"id": str(item_id), "requests": [(context, " " + c) for c in choices], "choices": choices, "gold": gold}


def arc_parts(doc):
    q = doc["question"]
    if isinstance(q, dict):
        return q["stem"], [c["text"] for c in q["choices"]], [c["label"] for c in q["choices"]]
    return doc.get("question_stem", q), doc["choices"]["text"], doc["choices"]["label"]


def load_task(task, tasks_dir):
    p = lambda *a: os.path.join(tasks_dir, *a)
    if task == "boolq":
        return [mc(d.get("idx", i), f"{d['passage']}\nQuestion: {d['question']}?\nAnswer:", ["no", "yes"], int(bool(d["label"])))
                for i, d in enumerate(read_jsonl(p("boolq", "val.jsonl")))]
    if task == "piqa":
        docs = read_jsonl(p("piqa", "valid.jsonl"))
        labels = [l.strip() for l in read_lines(p("piqa", "valid-labels.lst")) if l.strip()]
        return [mc(d.get("id", i), f"Question: {d['goal']}\nAnswer:", [d["sol1"], d["sol2"]], int(labels[i]))
                for i, d in enumerate(docs)]
    if task in ("arc_easy", "arc_challenge", "openbookqa"):
        name = {"arc_easy": ("arc_easy", "test.jsonl"), "arc_challenge": ("arc_challenge", "test.jsonl"),
                "openbookqa": ("openbookqa", "test.jsonl")}[task]
        items = []
        for i, d in enumerate(read_jsonl(p(*name))):
            stem, texts, labels = arc_parts(d)
            if task == "openbookqa":
                items.append(mc(d.get("id", i), stem, texts, labels.index(d["answerKey"].lstrip())))
            else:
                items.append(mc(d.get("id", i), f"Question: {stem}\nAnswer:", texts, labels.index(d["answerKey"])))
        return items
    if task == "hellaswag":
        with bz2.open(p("hellaswag", "hellaswag_val_full.txt.bz2"), "rt", encoding="utf-8") as f:
            text = f.read()
        lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
        items = []
        for k in range(0, len(lines), 6):
            ctx, label, endings = lines[k], int(lines[k + 1]), lines[k + 2:k + 6]
            items.append(mc(k // 6, hellaswag_preprocess(ctx), [hellaswag_preprocess(e) for e in endings], label))
        return items
    if task == "winogrande":
        items = []
        for i, d in enumerate(read_jsonl(p("winogrande", "dev.jsonl"))):
            idx = d["sentence"].index("_")
            contexts = [d["sentence"][:idx] + d["option1"], d["sentence"][:idx] + d["option2"]]
            target = d["sentence"][idx + 1:].strip()
            items.append({"id": str(i), "requests": [(c, " " + target) for c in contexts], "choices": contexts,
                          "gold": {"1": 0, "2": 1}[str(d["answer"])]})
        return items
    raise ValueError(task)


# ---------------------------------------------------------------- model

@torch.no_grad()
def logits_of(model, ids, device):
    x = torch.tensor([ids], dtype=torch.long, device=device)
    return model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0].double()


@torch.no_grad()
def perplexity(model, tokenizer, text, seq_len, device, limit=None):
    ids = tokenizer(text, return_tensors="pt").input_ids[0]
    n = ids.numel() // seq_len
    if limit:
        n = min(n, limit)
    total = 0.0
    for i in range(n):
        w = ids[i * seq_len:(i + 1) * seq_len].tolist()
        lp = torch.log_softmax(logits_of(model, w, device)[:-1], dim=-1)
        total -= lp.gather(1, torch.tensor(w[1:], device=device)[:, None]).sum().item()
    mean = total / (n * (seq_len - 1))
    return {"ppl": math.exp(mean), "mean_nll": mean, "windows": n, "dataset_tokens": ids.numel(), "seq_len": seq_len}


def encode_pair(tokenizer, context, continuation, add_bos):
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    enc = lambda s: tokenizer.encode(s, add_special_tokens=add_bos)
    whole = enc(context + continuation)
    ctx = enc(context)
    return ctx, whole[len(ctx):]


@torch.no_grad()
def loglikelihood(model, tokenizer, context, continuation, device, add_bos, max_length):
    ctx, cont = encode_pair(tokenizer, context, continuation, add_bos)
    inp = (ctx + cont)[-(max_length + 1):][:-1]
    lp = torch.log_softmax(logits_of(model, inp, device), dim=-1)
    first = len(inp) - len(cont)
    rows = lp[first:first + len(cont)]
    ll = rows.gather(1, torch.tensor(cont, device=device)[:, None]).sum().item()
    greedy = bool((rows.argmax(dim=-1).tolist() == cont))
    return ll, greedy


def argmax(xs):
    return max(range(len(xs)), key=lambda i: (xs[i], -i))


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HF model folder (config.json, *.safetensors, tokenizer.json)")
    ap.add_argument("--data", required=True, help="shared data folder (wikitext-2-raw-v1/, ptb/, tasks/)")
    ap.add_argument("--out", required=True, help="output JSON path")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--ppl-limit", type=int, default=None, help="first N windows only")
    ap.add_argument("--ppl", default="wikitext2,ptb", help="comma list of wikitext2, ptb, ptb-test; empty to skip")
    ap.add_argument("--tasks", default=",".join(TASKS), help="comma list; empty to skip")
    ap.add_argument("--items", type=int, default=50, help="first N items of each task")
    ap.add_argument("--add-bos", action="store_true", help="BOS before task requests (lm-eval add_bos_token)")
    ap.add_argument("--max-length", type=int, default=2048)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"],
                    help="compute dtype (testbed reference perplexities: float32 forward of the fp16 weights)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--compare", default=None, help="our results JSON to compare against")
    args = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    tokenizer = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(args.model, local_files_only=True, dtype=getattr(torch, args.dtype))
    except TypeError:  # transformers 4.x before `dtype`
        model = AutoModelForCausalLM.from_pretrained(args.model, local_files_only=True, torch_dtype=getattr(torch, args.dtype))
    model = model.to(args.device).eval()
    out = {"config": {"model": os.path.abspath(args.model), "seq_len": args.seq_len, "items": args.items,
                      "add_bos": args.add_bos, "dtype": args.dtype, "device": args.device,
                      "torch": torch.__version__, "transformers": __import__("transformers").__version__},
           "perplexity": {}, "tasks": {}}

    files = {"wikitext2": ("wikitext-2-raw-v1/wiki.test.raw", wikitext_text),
             "ptb": ("ptb/ptb.valid.txt", ptb_text), "ptb-test": ("ptb/ptb.test.txt", ptb_text)}
    for name in [n for n in args.ppl.split(",") if n]:
        rel, reader = files[name]
        t0 = time.time()
        out["perplexity"][name] = perplexity(model, tokenizer, reader(os.path.join(args.data, rel)), args.seq_len,
                                             args.device, args.ppl_limit)
        print(f"{name}: ppl {out['perplexity'][name]['ppl']:.4f} ({time.time() - t0:.0f} s)", file=sys.stderr)

    for task in [t for t in args.tasks.split(",") if t]:
        try:
            items = load_task(task, os.path.join(args.data, "tasks"))[: args.items]
        except FileNotFoundError as e:
            out["tasks"][task] = {"missing": str(e)}
            continue
        log, acc, acc_norm, acc_bytes = [], 0, 0, 0
        for it in items:
            res = [loglikelihood(model, tokenizer, c, k, args.device, args.add_bos, args.max_length) for c, k in it["requests"]]
            lls = [r[0] for r in res]
            acc += argmax(lls) == it["gold"]
            acc_norm += argmax([ll / len(c) for ll, c in zip(lls, it["choices"])]) == it["gold"]
            acc_bytes += argmax([ll / len(c.encode("utf-8")) for ll, c in zip(lls, it["choices"])]) == it["gold"]
            log.append({"id": it["id"], "gold": it["gold"], "lls": lls, "isGreedy": [r[1] for r in res]})
        n = max(len(items), 1)
        out["tasks"][task] = {"samples": len(items), "acc": acc / n, "acc_norm": acc_norm / n, "acc_bytes": acc_bytes / n, "log": log}
        print(f"{task}: acc {acc / n:.4f} acc_norm {acc_norm / n:.4f} on {len(items)} items", file=sys.stderr)

    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, args.out)

    if args.compare:
        with open(args.compare) as f:
            ours = json.load(f)
        ppl_ours = (ours.get("details") or {}).get("perplexity") or {}
        for name, ref in out["perplexity"].items():
            if name in ppl_ours:
                rel = abs(ppl_ours[name]["ppl"] - ref["ppl"]) / ref["ppl"]
                print(f"{name}: ours {ppl_ours[name]['ppl']:.4f} torch {ref['ppl']:.4f} rel diff {rel:.2e} "
                      f"({'ok' if rel <= 5e-3 else 'OVER 0.5%'})")
        task_ours = (((ours.get("details") or {}).get("tasks") or {}).get("results")) or {}
        for task, ref in out["tasks"].items():
            mine = {s["id"]: s for s in (task_ours.get(task) or {}).get("log") or []}
            if not mine or "log" not in ref:
                continue
            diffs = [abs(a - b) for s in ref["log"] if s["id"] in mine for a, b in zip(s["lls"], mine[s["id"]]["lls"])]
            worst = max(diffs) if diffs else float("nan")
            print(f"{task}: {len(diffs)} choices compared, max |ll diff| {worst:.2e} ({'ok' if worst <= 1e-3 else 'OVER 1e-3'})")


if __name__ == "__main__":
    main()
