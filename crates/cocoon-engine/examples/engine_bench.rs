//! Prompt-processing and generation speed of the embedded engine, for bench/engine/run (not a
//! test): `engine_bench MODEL.gguf PROMPT_FILE GEN_TOKENS ROUNDS`. Runs the prompt (its text,
//! tokenized by the engine) and then greedy generation of GEN_TOKENS tokens (ignoring
//! end-of-turn: the prompt is chosen to run on), ROUNDS times after one warm-up, and prints one
//! JSON line per round: prompt tokens, prefill seconds, generated tokens, generation seconds.
//! THREADS (optional 5th argument): inference threads (default: every core).

use std::time::Instant;

use cocoon_engine::{Engine, EngineOptions, Event, GenerateRequest, SamplingParams};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if !(5..=6).contains(&args.len()) {
        eprintln!("usage: engine_bench MODEL.gguf PROMPT_FILE GEN_TOKENS ROUNDS [THREADS]");
        std::process::exit(2);
    }
    let threads = args.get(5).map(|t| t.parse()).transpose()?;
    let engine = Engine::load(
        std::path::Path::new(&args[1]),
        EngineOptions {
            threads,
            ..EngineOptions::default()
        },
    )?;
    let prompt = engine.encode_text(&std::fs::read_to_string(&args[2])?)?;
    let n_gen: usize = args[3].parse()?;
    let rounds: usize = args[4].parse()?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    for round in 0..=rounds {
        let start = Instant::now();
        let mut events = engine.submit(GenerateRequest {
            prompt: prompt.clone(),
            max_tokens: Some(n_gen),
            sampling: SamplingParams::greedy(),
            stop: Vec::new(),
        })?;
        let mut first = None;
        let mut generated = 0usize;
        rt.block_on(async {
            while let Some(ev) = events.recv().await {
                match ev {
                    Event::Token { .. } => {
                        generated += 1;
                        first.get_or_insert_with(Instant::now);
                    }
                    Event::Done { .. } => break,
                    Event::Failed(e) => panic!("{e}"),
                }
            }
        });
        let end = Instant::now();
        let first = first.unwrap_or(end);
        if round == 0 {
            continue; // warm-up
        }
        // The first token comes right after the prompt's forward pass: its time is the
        // prefill's; the other tokens are generation steps.
        println!(
            "{{\"impl\":\"cocoon-engine (llama.cpp via llama-cpp-2)\",\"prompt_tokens\":{},\"prefill_s\":{:.6},\"gen_tokens\":{},\"gen_s\":{:.6}}}",
            prompt.len(),
            (first - start).as_secs_f64(),
            generated.saturating_sub(1),
            (end - first).as_secs_f64()
        );
    }
    Ok(())
}
