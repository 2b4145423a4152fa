//! Prompt-lookup drafting for speculative decoding: the next tokens are guessed by finding
//! the text's last n-gram earlier in the prompt or the output and copying what followed.
//! The generator verifies a draft in one forward pass and keeps the tokens the model itself
//! picks (see `Generator::generate`), so drafts change speed, not the model's choices.
//!
//! Token for token identity with the plain loop needs a position's logits to be the same
//! whether its pass holds one position or several. ONNX Runtime's CPU kernels compute
//! attention for one row differently from two or more (GroupQueryAttention's one-row
//! path): ~2e-5 apart in fp32 logits, and up to ~0.6 in graphs with int8 activations
//! (MatMulNBits `accuracy_level` 4: our q4 graphs, onnxruntime-genai's int4), where a
//! last-bit difference flips an int8 rounding that the next layers carry on. Among passes
//! of two or more positions the kernels agree bit for bit, and so do the matmuls for one
//! row and many (measured on every graph models/convert writes: a position's logits equal
//! its one-pass prefill's whatever the pass sizes, scripts/check_row_independence.py).
//! So models/convert's fused graphs give attention a spare row (the pass's last position
//! once more, `attention_spare_row` metadata): attention never sees one row, a plain step
//! is a one-position pass, and greedy output is the same bits with lookup on or off, on
//! fp32 and on 4-bit graphs. Graphs without it (onnxruntime-genai's, the plain fp32
//! layout) never run a one-position pass instead: a plain step runs the previous token
//! again beside the new one (the KV cache is rolled back one position; that token's key
//! and value come out the same), and the prefill's last run never holds a single position.
//!
//! Where no n-gram matches, a one-token guess (what followed the last token before) rides
//! along as a second position: on the fused q4 graphs, side by side with one-position
//! plain steps (3 rounds, BENCHMARKS.md), it gave 1.02-1.12x on copying prompts and
//! 0.97-1.07x on nothing to copy; on graphs without the spare row the second position is
//! there anyway, and a guess beats the previous token again.
//!
//! Graphs that quantize activations with one scale over the whole pass (dynamic int8
//! quantization, e.g. Optimum's `model_quantized.onnx`: `DynamicQuantizeLinear`) make a
//! position's logits depend on the values of the others: there lookup is off unless asked
//! for with `allow_inexact`.
//!
//! Summaries, action items and rewrites copy long spans of their note: there most drafts
//! are accepted and one memory-bound pass yields several tokens.

/// Prompt-lookup speculative decoding settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupOptions {
    /// Draft and verify at all (default true). With greedy decoding the tokens are those
    /// of the plain loop (see above); with sampling the output distribution is unchanged.
    pub enabled: bool,
    /// Most tokens drafted per step (default 8, at most 64); the draft length
    /// adapts below it.
    pub max_draft: usize,
    /// The longest n-gram matched (default 3); longer matches are tried first.
    pub max_ngram: usize,
    /// The shortest n-gram matched (default 2): 1 would draft after nearly every token,
    /// mostly in vain.
    pub min_ngram: usize,
    /// Draft on graphs that quantize activations with one scale per pass too (default
    /// false: there a position's logits depend on the drafts beside it, so greedy output
    /// would depend on which drafts were tried; `GeneratorInfo::lookup_off_reason`).
    pub allow_inexact: bool,
}

impl Default for LookupOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            max_draft: 8,
            max_ngram: 3,
            min_ngram: 2,
            allow_inexact: false,
        }
    }
}

/// The longest draft accepted: a verify pass computes logits for every drafted position,
/// and beyond this a wrong guess costs more than a long right one saves.
const MAX_DRAFT: usize = 64;

impl LookupOptions {
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> crate::error::Result<()> {
        if self.enabled && (self.min_ngram == 0 || self.min_ngram > self.max_ngram) {
            return Err(crate::error::Error::invalid(format!(
                "lookup n-gram sizes {}..={} are invalid: expected 1 <= min_ngram <= max_ngram",
                self.min_ngram, self.max_ngram
            )));
        }
        if self.enabled && self.max_draft > MAX_DRAFT {
            return Err(crate::error::Error::invalid(format!(
                "lookup max_draft {} is more than {}",
                self.max_draft, MAX_DRAFT
            )));
        }
        Ok(())
    }
}

/// Drafts for one generation, with a draft length that follows how well drafts fare.
pub(crate) struct Drafter {
    options: LookupOptions,
    /// Tokens to draft next time: doubles after a fully accepted draft, drops to one more
    /// than was accepted after a rejection (a wrong guess costs positions, not tokens).
    length: usize,
}

impl Drafter {
    pub fn new(options: LookupOptions) -> Self {
        let length = options.max_draft;
        Self { options, length }
    }

    /// The tokens that followed the most recent earlier occurrence of `history`'s last
    /// n-gram (the longest n that matches), at most `limit` of them; empty when none.
    pub fn draft(&self, history: &[u32], limit: usize) -> Vec<u32> {
        let limit = limit.min(self.length);
        if !self.options.enabled || limit == 0 {
            return Vec::new();
        }
        for n in (self.options.min_ngram..=self.options.max_ngram).rev() {
            if let Some(start) = last_match(history, n) {
                let end = (start + limit).min(history.len());
                return history[start..end].to_vec();
            }
        }
        Vec::new()
    }

    /// One token guessed where no n-gram of `min_ngram` or more matches: what followed the
    /// last token's most recent earlier occurrence. A second position costs a decode pass
    /// little (the weights are read once for both) and the guess is right often enough to
    /// pay for it (see the module doc); not counted in the draft length's adaptation.
    pub fn guess(&self, history: &[u32]) -> Vec<u32> {
        if !self.options.enabled {
            return Vec::new();
        }
        last_match(history, 1)
            .map(|start| vec![history[start]])
            .unwrap_or_default()
    }

    /// Record that `accepted` of `drafted` tokens were kept.
    pub fn record(&mut self, drafted: usize, accepted: usize) {
        if drafted == 0 {
            return;
        }
        self.length = if accepted == drafted {
            (self.length * 2).clamp(1, self.options.max_draft.max(1))
        } else {
            (accepted + 1).min(self.options.max_draft.max(1))
        };
    }
}

/// Where the continuation of the most recent earlier occurrence of the last `n` tokens of
/// `history` starts (an index with at least one token after the match), if any.
fn last_match(history: &[u32], n: usize) -> Option<usize> {
    if n == 0 || history.len() <= n {
        return None;
    }
    let tail = &history[history.len() - n..];
    // Candidate occurrences end before the tail itself starts, so a continuation exists.
    (0..history.len() - n)
        .rev()
        .find(|&i| &history[i..i + n] == tail)
        .map(|i| i + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drafter(max_draft: usize) -> Drafter {
        Drafter::new(LookupOptions {
            max_draft,
            ..LookupOptions::default()
        })
    }

    #[test]
    fn drafts_what_followed_the_most_recent_match_of_the_longest_ngram() {
        // "5 6" occurs at 1 (followed by 7 8) and at 6 (followed by 9 1); the tail is "5 6".
        let history = [4, 5, 6, 7, 8, 4, 5, 6, 9, 1, 2, 5, 6];
        assert_eq!(drafter(3).draft(&history, 10), vec![9, 1, 2]);
        // The trigram "4 5 6" wins over the later bigram "5 6".
        let history = [4, 5, 6, 7, 8, 3, 5, 6, 9, 4, 5, 6];
        assert_eq!(drafter(2).draft(&history, 10), vec![7, 8]);
    }

    #[test]
    fn no_draft_without_a_match_or_room() {
        assert!(drafter(8).draft(&[1, 2, 3, 4, 5], 10).is_empty());
        assert!(drafter(8).draft(&[1, 2, 1, 2], 0).is_empty());
        assert!(drafter(8).draft(&[2], 5).is_empty());
        let off = Drafter::new(LookupOptions::off());
        assert!(off.draft(&[1, 2, 9, 1, 2], 5).is_empty());
    }

    #[test]
    fn a_draft_stops_at_the_end_of_the_history_and_at_the_limit() {
        // The match "1 2" at 0 is followed by 1 2 3 ... up to the history's end.
        assert_eq!(drafter(8).draft(&[1, 2, 1, 2], 10), vec![1, 2]);
        assert_eq!(drafter(8).draft(&[1, 2, 7, 7, 7, 1, 2], 2), vec![7, 7]);
    }

    #[test]
    fn a_guess_is_the_token_after_the_last_tokens_previous_occurrence() {
        let d = drafter(8);
        assert_eq!(d.guess(&[5, 6, 7, 5]), vec![6]);
        assert_eq!(d.guess(&[5, 6, 7, 5, 9, 5]), vec![9]);
        assert!(d.guess(&[1, 2, 3]).is_empty());
        assert!(Drafter::new(LookupOptions::off())
            .guess(&[5, 6, 5])
            .is_empty());
    }

    #[test]
    fn draft_length_adapts() {
        let mut d = drafter(8);
        d.record(8, 2);
        assert_eq!(d.length, 3);
        d.record(3, 3);
        assert_eq!(d.length, 6);
        d.record(6, 6);
        assert_eq!(d.length, 8);
        d.record(8, 0);
        assert_eq!(d.length, 1);
        d.record(0, 0);
        assert_eq!(d.length, 1);
    }

    #[test]
    fn invalid_ngram_sizes_are_rejected() {
        let bad = LookupOptions {
            min_ngram: 4,
            ..LookupOptions::default()
        };
        assert!(bad.validate().is_err());
        assert!(LookupOptions::default().validate().is_ok());
    }
}
