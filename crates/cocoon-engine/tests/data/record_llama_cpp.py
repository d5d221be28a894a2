"""Records llama.cpp's own answers on the test model, for tests/greedy_equality.rs.

llama-cpp-python (PyPI; llama.cpp underneath, an implementation independent of candle) loads
SmolLM2-135M-Instruct.Q4_1.gguf, renders each chat with the GGUF's own template (its
Jinja2ChatFormatter), tokenizes the prompts (special tokens parsed, BOS as the model asks) and
decodes greedily (temperature 0, no repetition penalty) up to 32 tokens or the first
end-of-generation token. Writes llama_cpp_greedy.json beside this file.

llama.cpp runs as our engine runs it (crates/cocoon-engine/src/model.rs): an f32 key/value
cache (type_k = type_v = GGML_TYPE_F32; with llama.cpp's default f16 cache the rounding of keys
and values flips a near-tie at the 8th token of the first prompt on this tiny model), no flash
attention, a 4096-token context, 512-token batches, 2 threads; and it is compiled with the
same CPU flags as ours (x86-64-v3: AVX2, FMA, F16C, BMI2, not -march=native — floating-point
sums in other SIMD widths round differently, and greedy decoding of a 135M model follows them).

Run once, by hand, when the model or the prompts change:
  python3 -m venv /tmp/venv-llama
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DGGML_BMI2=ON -DGGML_SSE42=ON" /tmp/venv-llama/bin/pip install llama-cpp-python==0.3.36
  /tmp/venv-llama/bin/python record_llama_cpp.py PATH/TO/SmolLM2-135M-Instruct.Q4_1.gguf
"""

import json
import os
import sys

import llama_cpp
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

N_GEN = 32

CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "You are a terse assistant. Answer in one sentence."},
        {"role": "user", "content": "Why is the sky blue?"},
    ],
    [
        {"role": "user", "content": "Write a haiku about the sea."},
        {"role": "assistant", "content": "Waves fold into foam,\nsalt wind carries gull voices,\nthe tide keeps its time."},
        {"role": "user", "content": "Now one about mountains."},
    ],
]

TEXTS = [
    "The quick brown fox jumps over the lazy dog. In 2024 there were 366 days, and 1234567 is",
    "Café, naïve, 東京 and 🙂 — then code: fn main() { println!(\"hi\"); }\n\nThe next line",
]


def main() -> int:
    path = sys.argv[1]
    llm = Llama(model_path=path, n_ctx=4096, n_batch=512, n_threads=2, n_threads_batch=2,
                verbose=False, flash_attn=False,
                type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    meta = llm.metadata
    eos_id = llm.token_eos()
    bos_id = llm.token_bos()
    vocab = llm._model.vocab
    formatter = Jinja2ChatFormatter(
        template=meta["tokenizer.chat_template"],
        eos_token=llm._model.token_get_text(eos_id),
        bos_token=llm._model.token_get_text(bos_id),
    )
    cases = []
    prompts = [("chat", c, formatter(messages=c).prompt) for c in CHATS]
    prompts += [("text", None, t) for t in TEXTS]
    for kind, messages, text in prompts:
        prompt_ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        generated = []
        llm.reset()  # no reuse of the previous prompt's cache
        for tok in llm.generate(prompt_ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0,
                                repeat_penalty=1.0, reset=True):
            if llama_cpp.llama_vocab_is_eog(vocab, tok):
                break
            generated.append(tok)
            if len(generated) == N_GEN:
                break
        cases.append({
            "kind": kind,
            "messages": messages,
            "prompt_text": text,
            "prompt_ids": prompt_ids,
            "generated_ids": generated,
            "generated_text": llm.detokenize(generated).decode("utf-8", "replace"),
        })
    out = {
        "recorded_with": f"llama-cpp-python {llama_cpp.__version__} (GGML_NATIVE=OFF, AVX2 FMA F16C "
                         "BMI2), f32 key/value cache, no flash attention, n_ctx 4096",
        "model": os.path.basename(path),
        "n_gen": N_GEN,
        "cases": cases,
    }
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "llama_cpp_greedy.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
