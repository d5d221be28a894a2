//! The model's own tokenizer: llama.cpp's, built from the GGUF's `tokenizer.ggml.*` metadata
//! (vocabulary, merges, pre-tokenizer, control tokens). Prompts are tokenized exactly as
//! llama.cpp tokenizes them (control tokens written in the text, `<|im_start|>`, are parsed as
//! single tokens; BOS is prepended when the model asks for it), and the end-of-generation set
//! is llama.cpp's.

use std::sync::Arc;

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

/// A loaded model's tokenizer (shares the model; cheap to clone).
#[derive(Clone)]
pub struct Tokenizer {
    model: Arc<LlamaModel>,
    /// `tokenizer.ggml.bos_token_id`, when the model has one.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`, when the model has one.
    pub eos: Option<u32>,
    vocab_size: usize,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab", &self.vocab_size)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish()
    }
}

/// llama.cpp marks a missing special token with -1.
fn present(token: LlamaToken) -> Option<u32> {
    u32::try_from(token.0).ok()
}

impl Tokenizer {
    pub(crate) fn new(model: Arc<LlamaModel>) -> Self {
        let vocab = model.vocab();
        let bos = present(vocab.bos());
        let eos = present(vocab.eos());
        let vocab_size = usize::try_from(vocab.n_tokens()).unwrap_or(0);
        Tokenizer {
            model,
            bos,
            eos,
            vocab_size,
        }
    }

    fn token(&self, id: u32) -> Option<LlamaToken> {
        ((id as usize) < self.vocab_size).then_some(LlamaToken(id as i32))
    }

    /// Token ids of `text`, as llama.cpp tokenizes a prompt.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        Ok(self
            .model
            .vocab()
            .tokenize(text.as_bytes(), true, true)
            .into_iter()
            .filter_map(present)
            .collect())
    }

    /// The text of `ids`, special tokens left out; bytes of an unfinished character decode
    /// as U+FFFD. Refuses ids outside the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        let tokens = ids
            .iter()
            .map(|&id| {
                self.token(id)
                    .ok_or_else(|| format!("token id {id} is outside the vocabulary"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bytes = self.model.vocab().detokenize(&tokens, true, false);
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Whether `id` ends the answer (end of sequence, end of turn: llama.cpp's list).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.token(id).is_some_and(|t| self.model.vocab().is_eog(t))
    }

    /// The token's text as stored in the file (e.g. `"<|im_end|>"`), if the id exists.
    pub fn token_text(&self, id: u32) -> Option<String> {
        let token = self.token(id)?;
        let vocab = self.model.vocab();
        let text = vocab.text(token)?.to_string_lossy().into_owned();
        Some(text)
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }
}
