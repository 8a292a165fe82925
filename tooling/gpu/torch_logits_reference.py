"""PyTorch reference logits for an HF LLaMA checkpoint, for llm-bip's exporter parity test.

Runs the HF LlamaForCausalLM forward in float32 (fp16 weights upcast, as the test-bed README's
reference perplexities do) on fixed token ids and writes a small JSON the TS tests compare our
ONNX export against. Local paths only; no network.

usage: python3 torch_logits_reference.py MODEL_DIR OUT.json [--device cuda]
"""
import argparse
import json
import random

import torch
from transformers import LlamaForCausalLM


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seq", type=int, default=48)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--probe", type=int, default=64, help="vocab entries sampled per position")
    args = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = LlamaForCausalLM.from_pretrained(args.model_dir, torch_dtype=torch.float32).to(args.device).eval()
    vocab = model.config.vocab_size
    rng = random.Random(1234)
    # BOS then seeded ids (avoid the byte-fallback range so ids look like text)
    input_ids = [[1] + [rng.randrange(259, vocab) for _ in range(args.seq - 1)] for _ in range(args.batch)]
    probe = sorted(rng.sample(range(vocab), args.probe))
    with torch.no_grad():
        ids = torch.tensor(input_ids, device=args.device)
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.double().cpu()
    out = {
        "model_dir": args.model_dir,
        "how": "transformers LlamaForCausalLM, float32 forward of the saved weights, TF32 off, device " + args.device,
        "torch": torch.__version__,
        "input_ids": input_ids,
        "probe_vocab": probe,
        "logits_at_probe": [[[float(logits[b, t, v]) for v in probe] for t in range(args.seq)] for b in range(args.batch)],
        "argmax": [[int(logits[b, t].argmax()) for t in range(args.seq)] for b in range(args.batch)],
        "logsumexp": [[float(torch.logsumexp(logits[b, t], 0)) for t in range(args.seq)] for b in range(args.batch)],
        "max_abs_logit": float(logits.abs().max()),
    }
    with open(args.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
