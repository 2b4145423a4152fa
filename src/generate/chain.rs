//! The chain that turns a row of logits into the next token: logits processors change the
//! row (penalties, a grammar constraint), the sampler picks from it, and every processor
//! then hears which token was kept. As llama.cpp's sampler chain and onnxruntime-genai's
//! logits processors: a new stage does not touch the decoding loop.
//!
//! A verify pass gives one row per drafted position, and the decoding loop runs the rows
//! through the chain in order and stops at the first pick that differs from the draft. That
//! pick is kept too, so every token a processor accepts is a token of the output, and its
//! state never has to be forked or rolled back: a draft is only cut beforehand, at the
//! first token a processor would reject (`valid_prefix`). State is per generation: a new
//! chain (with a fresh constraint) for every request, whatever KV prefix is reused.

use std::collections::{HashMap, HashSet};

use super::constraint::ConstraintState;
use super::sampler::{Sampler, SamplingOptions};
use crate::error::Result;

/// One stage before the pick.
pub(crate) trait LogitsProcessor: Send {
    /// Change the row (penalize, mask) before a token is picked from it.
    fn apply(&mut self, logits: &mut [f32]) -> Result<()>;
    /// `token` was picked from the row and kept in the output.
    fn accept(&mut self, token: u32) -> Result<()>;
    /// Work for the next row that needs no logits (a constraint's mask): the decoding loop
    /// runs it on another thread while the model computes the row.
    fn prepare(&mut self) -> Result<()> {
        Ok(())
    }
    /// Nothing but end of sequence can follow the tokens accepted so far.
    fn finished(&self) -> bool {
        false
    }
    /// How many leading tokens of a draft this stage could accept.
    fn valid_prefix(&mut self, tokens: &[u32]) -> usize {
        tokens.len()
    }
}

/// The next-token chain of one generation.
pub(crate) struct TokenChain {
    processors: Vec<Box<dyn LogitsProcessor>>,
    sampler: Sampler,
    has_constraint: bool,
}

impl TokenChain {
    pub fn new(
        options: SamplingOptions,
        prompt: &[u32],
        constraint: Option<ConstraintState>,
    ) -> Self {
        let mut processors: Vec<Box<dyn LogitsProcessor>> = Vec::new();
        if let Some(penalties) = Penalties::new(&options, prompt) {
            processors.push(Box::new(penalties));
        }
        // After the penalties: they may lower a logit, the mask then removes what the
        // constraint forbids (a penalty never brings a masked token back).
        let has_constraint = constraint.is_some();
        if let Some(constraint) = constraint {
            processors.push(Box::new(constraint));
        }
        Self {
            processors,
            sampler: Sampler::new(options),
            has_constraint,
        }
    }

    /// The next token from `logits` (changed in place by the processors); every
    /// processor has accepted it when this returns.
    pub fn next_token(&mut self, logits: &mut [f32]) -> Result<u32> {
        for p in &mut self.processors {
            p.apply(logits)?;
        }
        let token = self.sampler.pick(logits);
        for p in &mut self.processors {
            p.accept(token)?;
        }
        Ok(token)
    }

    /// Whether `prepare` has work worth a thread (a constraint's next mask).
    pub fn has_work_to_prepare(&self) -> bool {
        self.has_constraint
    }

    pub fn prepare(&mut self) -> Result<()> {
        self.processors.iter_mut().try_for_each(|p| p.prepare())
    }

    pub fn finished(&self) -> bool {
        self.processors.iter().any(|p| p.finished())
    }

    /// `draft` cut at the first token some processor would reject.
    pub fn valid_prefix(&mut self, mut draft: Vec<u32>) -> Vec<u32> {
        for p in &mut self.processors {
            let valid = p.valid_prefix(&draft);
            draft.truncate(valid);
        }
        draft
    }
}

/// Hugging Face's repetition penalty over prompt and output, and OpenAI-style presence and
/// frequency penalties over the output.
struct Penalties {
    repetition: f32,
    presence: f32,
    frequency: f32,
    /// How often each token was generated.
    generated_counts: HashMap<u32, u32>,
    /// Tokens seen in prompt or output.
    seen: HashSet<u32>,
}

impl Penalties {
    /// None when every penalty is off.
    fn new(options: &SamplingOptions, prompt: &[u32]) -> Option<Self> {
        let on = options.repetition_penalty != 1.0
            || options.presence_penalty != 0.0
            || options.frequency_penalty != 0.0;
        on.then(|| Self {
            repetition: options.repetition_penalty,
            presence: options.presence_penalty,
            frequency: options.frequency_penalty,
            generated_counts: HashMap::new(),
            seen: prompt.iter().copied().collect(),
        })
    }
}

impl LogitsProcessor for Penalties {
    fn apply(&mut self, logits: &mut [f32]) -> Result<()> {
        if self.repetition != 1.0 {
            for &t in &self.seen {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = if *l > 0.0 {
                        *l / self.repetition
                    } else {
                        *l * self.repetition
                    };
                }
            }
        }
        if self.presence != 0.0 || self.frequency != 0.0 {
            for (&t, &count) in &self.generated_counts {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l -= self.presence + self.frequency * count as f32;
                }
            }
        }
        Ok(())
    }

    fn accept(&mut self, token: u32) -> Result<()> {
        *self.generated_counts.entry(token).or_default() += 1;
        self.seen.insert(token);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalties_change_greedy_choice() {
        let mut chain = TokenChain::new(
            SamplingOptions {
                repetition_penalty: 2.0,
                ..SamplingOptions::greedy()
            },
            &[0],
            None,
        );
        assert_eq!(chain.next_token(&mut [3.0, 2.0]).unwrap(), 1);
        let mut chain = TokenChain::new(
            SamplingOptions {
                frequency_penalty: 5.0,
                ..SamplingOptions::greedy()
            },
            &[],
            None,
        );
        assert_eq!(chain.next_token(&mut [3.0, 2.0]).unwrap(), 0);
        assert_eq!(chain.next_token(&mut [3.0, 2.0]).unwrap(), 1);
    }

    #[test]
    fn no_processor_when_the_penalties_are_off() {
        let chain = TokenChain::new(SamplingOptions::greedy(), &[1, 2, 3], None);
        assert!(chain.processors.is_empty());
    }

    /// A processor sees every row before the pick and every kept token after it.
    #[test]
    fn processors_apply_before_and_accept_after_the_pick() {
        use std::sync::{Arc, Mutex};
        struct Ban(u32, Arc<Mutex<Vec<u32>>>);
        impl LogitsProcessor for Ban {
            fn apply(&mut self, logits: &mut [f32]) -> Result<()> {
                logits[self.0 as usize] = f32::NEG_INFINITY;
                Ok(())
            }
            fn accept(&mut self, token: u32) -> Result<()> {
                self.1.lock().unwrap().push(token);
                Ok(())
            }
        }
        let kept = Arc::new(Mutex::new(Vec::new()));
        let mut chain = TokenChain::new(SamplingOptions::greedy(), &[], None);
        chain.processors.push(Box::new(Ban(2, kept.clone())));
        assert_eq!(chain.next_token(&mut [0.0, 1.0, 5.0]).unwrap(), 1);
        assert_eq!(chain.next_token(&mut [3.0, 1.0, 5.0]).unwrap(), 0);
        assert_eq!(*kept.lock().unwrap(), [1, 0]);
    }
}
