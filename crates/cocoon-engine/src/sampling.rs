//! Sampling parameters (`temperature`, `top_p`, `seed`) and their checks; the sampling itself
//! is candle's `LogitsProcessor`.

use candle_transformers::generation::{LogitsProcessor, Sampling};

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

    pub(crate) fn processor(&self) -> LogitsProcessor {
        let seed = self.seed.unwrap_or_else(rand::random);
        let sampling = if self.temperature <= 0.0 {
            Sampling::ArgMax
        } else if self.top_p < 1.0 {
            Sampling::TopP {
                p: self.top_p,
                temperature: self.temperature,
            }
        } else {
            Sampling::All {
                temperature: self.temperature,
            }
        };
        LogitsProcessor::from_sampling(seed, sampling)
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

    #[test]
    fn the_same_seed_picks_the_same_tokens() {
        let logits =
            candle_core::Tensor::new(&[0.1f32, 0.5, 0.2, 0.9, 0.3], &candle_core::Device::Cpu)
                .unwrap();
        let params = SamplingParams {
            temperature: 1.5,
            top_p: 0.9,
            seed: Some(7),
        };
        let pick = |n: usize| {
            let mut p = params.processor();
            (0..n)
                .map(|_| p.sample(&logits).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(20), pick(20));
        let mut greedy = SamplingParams::greedy().processor();
        assert_eq!(greedy.sample(&logits).unwrap(), 3);
    }
}
