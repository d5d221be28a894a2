"""llama.cpp's speed on the same model, prompt and thread count, through llama-cpp-python:
the same measurement as crates/cocoon-engine/examples/engine_bench.rs (time to the first
greedy token = prefill; the rest = generation; stops at end-of-generation like ours), with the
same context settings as ours (4096 tokens, f32 key/value cache, no flash attention).

usage: llama_cpp_bench.py MODEL.gguf PROMPT_FILE GEN_TOKENS ROUNDS THREADS
"""

import sys
import time

import llama_cpp
from llama_cpp import Llama


def main() -> int:
    model, prompt_file, n_gen, rounds, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    # Ours runs an f32 key/value cache without flash attention (crates/cocoon-engine/src/model.rs):
    # the same here.
    llm = Llama(model_path=model, n_ctx=4096, n_threads=threads, n_threads_batch=threads, n_batch=512,
                type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False,
                verbose=False)
    vocab = llm._model.vocab
    with open(prompt_file, encoding="utf-8") as f:
        prompt = llm.tokenize(f.read().encode("utf-8"), add_bos=True, special=True)
    for round_ in range(rounds + 1):
        start = time.perf_counter()
        first = None
        generated = 0
        llm.reset()  # no reuse of the previous prompt's cache
        for tok in llm.generate(prompt, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
            if llama_cpp.llama_vocab_is_eog(vocab, tok):
                break
            generated += 1
            if first is None:
                first = time.perf_counter()
            if generated == n_gen:
                break
        end = time.perf_counter()
        if round_ == 0:
            continue  # warm-up
        first = first or end
        print(f'{{"impl":"llama-cpp-python {llama_cpp.__version__}","prompt_tokens":{len(prompt)},'
              f'"prefill_s":{first - start:.6f},"gen_tokens":{max(generated - 1, 0)},"gen_s":{end - first:.6f}}}',
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
