"""transformers' own logits for the tiny parity variants (see variants.ts), for the exporter tests.

Runs LlamaForCausalLM in float64 with eager attention on each variant folder written by variants.ts,
with the variant's input_ids / attention_mask / position_ids, and stores for every compared position
the logits at 16 sampled vocab entries, the argmax and the logsumexp. Local paths only.

usage: python3 variants_reference.py VARIANTS_DIR OUT.json
"""
import json
import math
import os
import random
import sys

import torch
import transformers
from transformers import LlamaForCausalLM


def num(x) -> float | None:
    """JSON has no NaN: HF's float64 eager attention gives NaN at fully masked (padding) positions."""
    x = float(x)
    return x if math.isfinite(x) else None


def forward(d: str, inputs: dict, dtype: torch.dtype, probe_seed: int) -> dict:
    model = LlamaForCausalLM.from_pretrained(d, dtype=dtype, attn_implementation="eager").eval()
    ids = torch.tensor(inputs["input_ids"])
    mask = torch.tensor(inputs["attention_mask"]) if inputs["attention_mask"] is not None else torch.ones_like(ids)
    pos = torch.tensor(inputs["position_ids"])
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits.double()
    vocab = logits.shape[-1]
    probe = sorted(random.Random(probe_seed).sample(range(vocab), 16))
    B, S = ids.shape
    return {
        "weight_checksum": inputs["weight_checksum"],
        "rope": getattr(model.model.rotary_emb, "rope_type", None),
        "inv_freq": [float(x) for x in getattr(model.model.rotary_emb, "inv_freq", [])],
        "probe_vocab": probe,
        "logits_at_probe": [[[num(logits[b, t, v]) for v in probe] for t in range(S)] for b in range(B)],
        "argmax": [[int(logits[b, t].argmax()) for t in range(S)] for b in range(B)],
        "logsumexp": [[num(torch.logsumexp(logits[b, t], 0)) for t in range(S)] for b in range(B)],
        "max_abs_logit": float(logits.nan_to_num(0.0).abs().max()),
    }


def main() -> None:
    root, out_path = sys.argv[1], sys.argv[2]
    out = {
        "how": "transformers LlamaForCausalLM, eager attention, CPU; float64, and float32 as 'float32' for variants with an attention_mask "
        "(float64 eager turns a left-padded row into NaN); NaN stored as null",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "variants": {},
    }
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        with open(os.path.join(d, "inputs.json")) as f:
            inputs = json.load(f)
        rec = forward(d, inputs, torch.float64, len(name))
        if inputs["attention_mask"] is not None:
            rec["float32"] = forward(d, inputs, torch.float32, len(name))
        out["variants"][name] = rec
        print(name, "max |logit|", rec["max_abs_logit"], "rope", rec["rope"], "float32 too" if "float32" in rec else "")
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
