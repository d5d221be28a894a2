//! Our engine against llama.cpp on the same GGUF: for fixed prompts, the chat template's text,
//! the prompt's token ids and the first 32 greedily generated token ids (temperature 0) must
//! equal llama.cpp's own. llama.cpp's values were recorded once with llama-cpp-python (PyPI,
//! llama.cpp underneath; the engine reaches llama.cpp through llama-cpp-2, a separate binding
//! and build) by tests/data/record_llama_cpp.py — its docstring says how, with the same CPU
//! flags and context settings as ours — into tests/data/llama_cpp_greedy.json. Also: the usage the engine
//! reports (what a worker bills) is exactly the tokens it ran and generated.

mod common;

use cocoon_engine::{ChatMessage, Event, FinishReason, GenerateRequest, SamplingParams};
use serde_json::Value;

const RECORDED: &str = include_str!("data/llama_cpp_greedy.json");

fn messages(v: &Value) -> Vec<ChatMessage> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| ChatMessage {
            role: m["role"].as_str().unwrap().into(),
            content: m["content"].as_str().unwrap().into(),
        })
        .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as u32)
        .collect()
}

#[tokio::test]
async fn greedy_tokens_equal_llama_cpp() {
    let Some(engine) = common::shared_engine() else {
        return;
    };
    let recorded: Value = serde_json::from_str(RECORDED).unwrap();
    assert_eq!(recorded["model"], common::MODEL_FILE);
    let n_gen = recorded["n_gen"].as_u64().unwrap() as usize;
    let cases = recorded["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let text = case["prompt_text"].as_str().unwrap();
        if case["kind"] == "chat" {
            let rendered = engine.render_chat(&messages(&case["messages"])).unwrap();
            assert_eq!(rendered, text, "chat template rendering");
        }
        let prompt = engine.encode_text(text).unwrap();
        assert_eq!(
            prompt,
            ids(&case["prompt_ids"]),
            "prompt token ids of {text:?}"
        );
        let expected = ids(&case["generated_ids"]);

        let mut events = engine
            .submit(GenerateRequest {
                prompt: prompt.clone(),
                max_tokens: Some(n_gen),
                sampling: SamplingParams::greedy(),
                stop: Vec::new(),
            })
            .unwrap();
        let mut got = Vec::new();
        let mut text_out = String::new();
        let (finish, usage) = loop {
            match events.recv().await.expect("the engine answers") {
                Event::Token { id, text } => {
                    got.push(id);
                    text_out.push_str(&text);
                }
                Event::Done {
                    text,
                    finish,
                    usage,
                } => {
                    text_out.push_str(&text);
                    break (finish, usage);
                }
                Event::Failed(e) => panic!("inference failed: {e}"),
            }
        };
        eprintln!(
            "after {text:?}\nours: {text_out:?}\nllama.cpp: {}",
            case["generated_text"]
        );
        assert_eq!(got, expected, "greedy tokens after {text:?}");
        let expected_finish = if expected.len() == n_gen {
            FinishReason::Length
        } else {
            FinishReason::Stop
        };
        assert_eq!(finish, expected_finish);
        // Billed = run: every prompt token, every generated token (not the end-of-turn one).
        assert_eq!(usage.prompt_tokens, prompt.len() as u64);
        assert_eq!(usage.completion_tokens, got.len() as u64);
    }
}
