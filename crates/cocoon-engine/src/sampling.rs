//! Sampling parameters (`temperature`, `top_p`, `seed`) and their checks; the sampling itself
//! is llama.cpp's sampler chain (greedy, or temperature → top-p → a seeded random draw).

use llama_cpp_2::sampling::LlamaSampler;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingParams {
    /// 0 = greedy (the most likely token, always); OpenAI's default is 1.
    pub temperature: f64,
    /// Nucleus sampling: keep the most likely tokens up to this probability mass (1 = all).
    pub top_p: f64,
    /// Seed of the random choice (`None`: a fresh random seed).
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_p: 1.0,
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding: the same answer every time.
    pub fn greedy() -> Self {
        SamplingParams {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Checks the ranges OpenAI accepts: temperature in [0, 2], top_p in (0, 1].
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(format!(
                "temperature {} is out of range [0, 2]",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("top_p {} is out of range (0, 1]", self.top_p));
        }
        Ok(())
    }

    /// The sampler for one request: greedy at temperature 0, else the logits divided by the
    /// temperature, cut to the nucleus of mass `top_p`, and a draw seeded by `seed`.
    pub(crate) fn sampler(&self) -> LlamaSampler {
        if self.temperature <= 0.0 {
            return LlamaSampler::greedy();
        }
        let seed = self.seed.unwrap_or_else(rand::random);
        // llama.cpp seeds with 32 bits: fold the 64 the API takes.
        let seed = (seed ^ (seed >> 32)) as u32;
        let mut chain = vec![LlamaSampler::temp(self.temperature as f32)];
        if self.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(self.top_p as f32, 1));
        }
        chain.push(LlamaSampler::dist(seed));
        LlamaSampler::chain_simple(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_refused() {
        let bad_t = SamplingParams {
            temperature: 2.5,
            ..Default::default()
        };
        assert!(bad_t.validate().unwrap_err().contains("temperature"));
        let bad_p = SamplingParams {
            top_p: 0.0,
            ..Default::default()
        };
        assert!(bad_p.validate().unwrap_err().contains("top_p"));
        let nan = SamplingParams {
            temperature: f64::NAN,
            ..Default::default()
        };
        assert!(nan.validate().is_err());
        assert!(SamplingParams::greedy().validate().is_ok());
    }

    fn pick(params: &SamplingParams, logits: &[f32], n: usize) -> Vec<i32> {
        use llama_cpp_2::token::data::LlamaTokenData;
        use llama_cpp_2::token::data_array::LlamaTokenDataArray;
        use llama_cpp_2::token::LlamaToken;
        let mut sampler = params.sampler();
        (0..n)
            .map(|_| {
                let mut data = LlamaTokenDataArray::from_iter(
                    logits
                        .iter()
                        .enumerate()
                        .map(|(i, l)| LlamaTokenData::new(LlamaToken(i as i32), *l, 0.0)),
                    false,
                );
                data.apply_sampler(&mut sampler);
                data.selected_token().expect("a token is chosen").0
            })
            .collect()
    }

    #[test]
    fn the_same_seed_picks_the_same_tokens_and_greedy_the_largest() {
        let logits = [0.1f32, 0.5, 0.2, 0.9, 0.3];
        let params = SamplingParams {
            temperature: 1.5,
            top_p: 0.9,
            seed: Some(7),
        };
        let first = pick(&params, &logits, 40);
        assert_eq!(first, pick(&params, &logits, 40));
        // At this temperature the draw is not always the largest logit.
        assert!(first.iter().any(|t| *t != 3), "{first:?}");
        assert_eq!(pick(&SamplingParams::greedy(), &logits, 3), vec![3, 3, 3]);
    }

    #[test]
    fn a_small_top_p_keeps_only_the_most_likely_token() {
        let logits = [0.1f32, 0.5, 0.2, 4.0, 0.3];
        let params = SamplingParams {
            temperature: 1.0,
            top_p: 0.05,
            seed: Some(1),
        };
        assert!(pick(&params, &logits, 30).iter().all(|t| *t == 3));
    }
}
