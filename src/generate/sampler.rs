//! Sampling settings, and the last stage of the token chain (chain.rs): greedy or
//! temperature sampling with top-k / top-p / min-p. Never sorts the whole vocabulary:
//! candidates are found with partial selection and only they are sorted.

use crate::error::{Error, Result};

/// Sampling settings. `temperature <= 0` means greedy (argmax).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingOptions {
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability adds up to p; 1 = off.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` x the most likely one; 0 = off.
    pub min_p: f32,
    /// Hugging Face repetition penalty over prompt and generated tokens; 1 = off.
    pub repetition_penalty: f32,
    /// OpenAI-style penalties over generated tokens; 0 = off.
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    /// Same seed, same output. `None`: a fresh seed per generation.
    pub seed: Option<u64>,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self::greedy()
    }
}

impl SamplingOptions {
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: None,
        }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    /// Reject values that would make sampling meaningless (NaN, negative, out of range).
    pub fn validate(&self) -> Result<()> {
        let check = |name: &str, v: f32, ok: bool, expected: &str| {
            if v.is_finite() && ok {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "{name} = {v} is invalid: expected {expected}"
                )))
            }
        };
        check(
            "temperature",
            self.temperature,
            self.temperature >= 0.0 && self.temperature <= 100.0,
            "a number from 0 (greedy) to 100",
        )?;
        check(
            "top_p",
            self.top_p,
            self.top_p > 0.0 && self.top_p <= 1.0,
            "a number in (0, 1]",
        )?;
        check(
            "min_p",
            self.min_p,
            (0.0..=1.0).contains(&self.min_p),
            "a number in [0, 1]",
        )?;
        check(
            "repetition_penalty",
            self.repetition_penalty,
            self.repetition_penalty > 0.0 && self.repetition_penalty <= 100.0,
            "a number in (0, 100]",
        )?;
        check(
            "presence_penalty",
            self.presence_penalty,
            self.presence_penalty.abs() <= 100.0,
            "a number in [-100, 100]",
        )?;
        check(
            "frequency_penalty",
            self.frequency_penalty,
            self.frequency_penalty.abs() <= 100.0,
            "a number in [-100, 100]",
        )?;
        Ok(())
    }
}

/// Picks the next token from (processed) logits: greedy, or temperature sampling with
/// top-k / top-p / min-p from its own random state.
pub(crate) struct Sampler {
    options: SamplingOptions,
    rng: SplitMix64,
}

impl Sampler {
    pub fn new(options: SamplingOptions) -> Self {
        let seed = options.seed.unwrap_or_else(fresh_seed);
        Self {
            rng: SplitMix64(seed),
            options,
        }
    }

    pub fn pick(&mut self, logits: &[f32]) -> u32 {
        if self.options.is_greedy() {
            argmax(logits)
        } else {
            self.sample_random(logits)
        }
    }

    fn sample_random(&mut self, logits: &[f32]) -> u32 {
        let o = &self.options;
        let vocab = logits.len();
        // Candidates, most likely first: top-k bounds how many we ever sort.
        let limit = if o.top_k > 0 {
            o.top_k.min(vocab)
        } else {
            vocab
        };
        let mut take = if o.top_p < 1.0 || o.min_p > 0.0 {
            limit.min(64)
        } else {
            limit
        };
        let max_logit = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let inv_t = 1.0 / o.temperature;
        // Softmax denominator over the whole vocabulary, so that top-p sees true probabilities.
        let total: f64 = logits
            .iter()
            .map(|&l| (((l - max_logit) * inv_t) as f64).exp())
            .sum();
        loop {
            let candidates = top_indices(logits, take);
            let probs: Vec<f64> = candidates
                .iter()
                .map(|&i| (((logits[i] - max_logit) * inv_t) as f64).exp() / total)
                .collect();
            let mut keep = candidates.len();
            if o.min_p > 0.0 {
                let floor = probs[0] * o.min_p as f64;
                keep = probs.iter().take_while(|&&p| p >= floor).count().max(1);
            }
            let mut covered = true;
            if o.top_p < 1.0 {
                let mut acc = 0.0;
                let mut n = 0;
                for &p in &probs[..keep] {
                    acc += p;
                    n += 1;
                    if acc >= o.top_p as f64 {
                        break;
                    }
                }
                covered = acc >= o.top_p as f64;
                keep = n;
            }
            let min_p_covered = o.min_p <= 0.0 || keep < candidates.len();
            // Not enough candidates looked at yet to know the nucleus: look at more.
            if (!covered || !min_p_covered) && take < limit {
                take = (take * 4).min(limit);
                continue;
            }
            let mass: f64 = probs[..keep].iter().sum();
            let mut r = self.rng.next_f64() * mass;
            for (k, &p) in probs[..keep].iter().enumerate() {
                r -= p;
                if r <= 0.0 {
                    return candidates[k] as u32;
                }
            }
            return candidates[keep - 1] as u32;
        }
    }
}

/// Index of the largest value; the first one on ties (as `torch.argmax`).
pub(crate) fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The `k` largest entries' indices, largest first (ties: lower index first).
fn top_indices(logits: &[f32], k: usize) -> Vec<usize> {
    let k = k.clamp(1, logits.len());
    let order = |a: &usize, b: &usize| logits[*b].total_cmp(&logits[*a]).then(a.cmp(b));
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, order);
        idx.truncate(k);
    }
    idx.sort_unstable_by(order);
    idx
}

fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
}

/// SplitMix64: tiny, fast, and good enough to draw one number per token.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(options: SamplingOptions) -> Sampler {
        Sampler::new(options)
    }

    #[test]
    fn greedy_takes_first_max() {
        assert_eq!(argmax(&[0.0, 3.0, 1.0, 3.0]), 1);
        let mut s = sampler(SamplingOptions::greedy());
        assert_eq!(s.pick(&[0.1, 0.2, 5.0]), 2);
    }

    #[test]
    fn same_seed_same_tokens() {
        let logits: Vec<f32> = (0..500).map(|i| ((i * 37) % 101) as f32 / 10.0).collect();
        let opts = SamplingOptions {
            temperature: 1.0,
            top_p: 0.9,
            seed: Some(7),
            ..SamplingOptions::greedy()
        };
        let draw = |o: &SamplingOptions| {
            let mut s = sampler(o.clone());
            (0..50).map(|_| s.pick(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(&opts), draw(&opts));
        assert_ne!(
            draw(&opts),
            draw(&SamplingOptions {
                seed: Some(8),
                ..opts.clone()
            })
        );
    }

    #[test]
    fn top_k_one_is_greedy() {
        let logits: Vec<f32> = (0..100).map(|i| (i % 17) as f32).collect();
        let mut s = sampler(SamplingOptions {
            temperature: 5.0,
            top_k: 1,
            seed: Some(1),
            ..SamplingOptions::greedy()
        });
        for _ in 0..20 {
            assert_eq!(s.pick(&logits), argmax(&logits));
        }
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // Token 0 has ~0.88 of the mass; top_p 0.5 must always pick it.
        let mut logits = vec![0.0f32; 1000];
        logits[0] = 15.0;
        let mut s = sampler(SamplingOptions {
            temperature: 1.0,
            top_p: 0.5,
            seed: Some(3),
            ..SamplingOptions::greedy()
        });
        for _ in 0..50 {
            assert_eq!(s.pick(&logits), 0);
        }
        // A flat distribution needs more than 64 candidates to reach p = 0.9: all are reachable.
        let flat = vec![1.0f32; 1000];
        let mut s = sampler(SamplingOptions {
            temperature: 1.0,
            top_p: 0.9,
            seed: Some(4),
            ..SamplingOptions::greedy()
        });
        let picks: std::collections::HashSet<u32> = (0..400).map(|_| s.pick(&flat)).collect();
        assert!(
            picks.iter().any(|&t| t >= 64),
            "nucleus was cut at the first 64 candidates"
        );
        assert!(
            picks.iter().all(|&t| t < 900),
            "picked outside the 0.9 nucleus"
        );
    }

    #[test]
    fn min_p_drops_unlikely_tokens() {
        let mut logits = vec![-10.0f32; 300];
        logits[5] = 2.0;
        logits[9] = 1.9;
        let mut s = sampler(SamplingOptions {
            temperature: 1.0,
            min_p: 0.5,
            seed: Some(5),
            ..SamplingOptions::greedy()
        });
        for _ in 0..50 {
            let t = s.pick(&logits);
            assert!(t == 5 || t == 9);
        }
    }

    #[test]
    fn validation_rejects_nan_and_negative() {
        for bad in [
            SamplingOptions {
                temperature: f32::NAN,
                ..SamplingOptions::greedy()
            },
            SamplingOptions {
                temperature: -1.0,
                ..SamplingOptions::greedy()
            },
            SamplingOptions {
                top_p: 0.0,
                ..SamplingOptions::greedy()
            },
            SamplingOptions {
                min_p: 2.0,
                ..SamplingOptions::greedy()
            },
            SamplingOptions {
                repetition_penalty: f32::INFINITY,
                ..SamplingOptions::greedy()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?} accepted");
        }
        assert!(SamplingOptions::greedy().validate().is_ok());
    }
}
