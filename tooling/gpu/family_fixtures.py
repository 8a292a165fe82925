"""Tiny seeded random checkpoints of current model families, with PyTorch references.

Runs on the GPU machine (torch + transformers + onnx installed), never in CI:
    python tooling/gpu/family_fixtures.py OUT_DIR
For each family it writes OUT_DIR/<name>/: config.json and model.safetensors (fp32, HF layout, from
save_pretrained), reference.json (versions, seed, input_ids [1 x 16], the full fp32 logits [16 x vocab] of the
HF eager forward on the CPU, argmax per position), and torch.onnx exports of the same model
(model.torchscript.onnx, model.dynamo.onnx: inputs input_ids / attention_mask, output logits, no KV cache,
weights inline) where the exporter succeeds; failures are recorded in reference.json's export_errors.
Sizes are tiny (hidden 64, 2 layers, 4 heads / 2 KV heads, vocab 512) so the files can be committed.
"""

import json
import os
import sys
import traceback

import torch
import transformers

SEED = 0
SEQ = 16
COMMON = dict(
    vocab_size=512,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
    rms_norm_eps=1e-6,
)


def families():
    t = transformers
    llama3_rope = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64,
    }
    yield "llama3", lambda: t.LlamaConfig(**COMMON, rope_theta=500000.0, rope_scaling=llama3_rope,
                                           tie_word_embeddings=False), t.LlamaForCausalLM
    yield "llama32", lambda: t.LlamaConfig(**COMMON, rope_theta=500000.0, rope_scaling=llama3_rope,
                                            tie_word_embeddings=True), t.LlamaForCausalLM
    yield "mistral", lambda: t.MistralConfig(**COMMON, head_dim=32, sliding_window=4096,
                                              tie_word_embeddings=False), t.MistralForCausalLM
    yield "qwen2", lambda: t.Qwen2Config(**COMMON, tie_word_embeddings=True, use_sliding_window=False),\
        t.Qwen2ForCausalLM
    yield "qwen3", lambda: t.Qwen3Config(**COMMON, head_dim=32, tie_word_embeddings=True,
                                          use_sliding_window=False), t.Qwen3ForCausalLM
    yield "phi3", lambda: t.Phi3Config(**COMMON, tie_word_embeddings=False), t.Phi3ForCausalLM
    yield "gemma", lambda: t.GemmaConfig(**COMMON, head_dim=16, hidden_activation="gelu_pytorch_tanh"),\
        t.GemmaForCausalLM
    yield "gemma2", lambda: t.Gemma2Config(**COMMON, head_dim=16, sliding_window=8,
                                            query_pre_attn_scalar=16), t.Gemma2ForCausalLM
    yield "gemma3", lambda: t.Gemma3TextConfig(**COMMON, head_dim=16, sliding_window=8,
                                                query_pre_attn_scalar=16), t.Gemma3ForCausalLM
    yield "mixtral", lambda: t.MixtralConfig(**COMMON, num_local_experts=4, num_experts_per_tok=2),\
        t.MixtralForCausalLM


def perturb(model, name):
    """Random init gives unit norms and zero biases; perturb them so that tests see their effect."""
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight") or "layernorm" in pname or pname.endswith("_norm.weight"):
                base = 0.0 if name.startswith("gemma") else 1.0  # Gemma scales by (1 + w)
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            elif pname.endswith(".bias"):
                p.copy_(0.02 * torch.randn(p.shape, generator=g))


class LogitsOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


def inline_weights(path):
    import onnx

    m = onnx.load(path, load_external_data=True)
    folder = os.path.dirname(path)
    for f in os.listdir(folder):
        if f.endswith(".data") and f.startswith(os.path.basename(path)):
            os.remove(os.path.join(folder, f))
    onnx.save(m, path)
    onnx.checker.check_model(path)


def export(model, ids, mask, folder, ref):
    wrapper = LogitsOnly(model).eval()
    errors = ref.setdefault("export_errors", {})
    path = os.path.join(folder, "model.torchscript.onnx")
    try:
        torch.onnx.export(wrapper, (ids, mask), path, dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                        "attention_mask": {0: "batch", 1: "sequence"},
                                        "logits": {0: "batch", 1: "sequence"}})
        inline_weights(path)
    except Exception as e:  # noqa: BLE001 - recorded for the fixture README
        errors["torchscript"] = f"{type(e).__name__}: {str(e)[:400]}"
        if os.path.exists(path):
            os.remove(path)
    path = os.path.join(folder, "model.dynamo.onnx")
    try:
        batch, seq = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("sequence", min=2, max=256)
        prog = torch.onnx.export(wrapper, (ids, mask), dynamo=True,
                                 input_names=["input_ids", "attention_mask"], output_names=["logits"],
                                 dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}))
        prog.save(path)
        inline_weights(path)
    except Exception as e:  # noqa: BLE001
        errors["dynamo"] = f"{type(e).__name__}: {str(e)[:400]}"
        if os.path.exists(path):
            os.remove(path)
    if ref["family"] == "llama3":
        # a dynamo export with its batch and sequence fixed ([1, 16]): the fixed-dimension case
        path = os.path.join(folder, "model.dynamo-fixed.onnx")
        try:
            prog = torch.onnx.export(wrapper, (ids, mask), dynamo=True,
                                     input_names=["input_ids", "attention_mask"], output_names=["logits"])
            prog.save(path)
            inline_weights(path)
        except Exception as e:  # noqa: BLE001
            errors["dynamo-fixed"] = f"{type(e).__name__}: {str(e)[:400]}"


def main(out):
    torch.backends.cuda.matmul.allow_tf32 = False
    summary = {}
    for name, make_config, cls in families():
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        try:
            torch.manual_seed(SEED)
            config = make_config()
            config._attn_implementation = "eager"
            model = cls(config).eval().float()
            perturb(model, name)
            model.save_pretrained(folder, safe_serialization=True)
            g = torch.Generator().manual_seed(SEED)
            ids = torch.randint(3, COMMON["vocab_size"], (1, SEQ), generator=g)
            mask = torch.ones_like(ids)
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[0].double()
            ref = {
                "family": name,
                "made_by": "tooling/gpu/family_fixtures.py",
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "seed": SEED,
                "attn_implementation": "eager",
                "input_ids": ids.tolist(),
                "logits": [[float(v) for v in row] for row in logits.float().tolist()],
                "argmax": logits.argmax(-1).tolist(),
                "max_abs_logit": float(logits.abs().max()),
            }
            if name != "mixtral":
                export(model, ids, mask, folder, ref)
            with open(os.path.join(folder, "reference.json"), "w") as f:
                json.dump(ref, f)
            files = sorted(os.listdir(folder))
            summary[name] = {"files": {f: os.path.getsize(os.path.join(folder, f)) for f in files},
                             "export_errors": ref.get("export_errors", {})}
        except Exception as e:  # noqa: BLE001
            summary[name] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-1500:]}
        print(name, json.dumps(summary[name])[:600], flush=True)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
