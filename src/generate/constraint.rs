//! Structured output: a JSON Schema, regular expression, Lark grammar or set of choices,
//! compiled by llguidance (the engine llama.cpp and onnxruntime-genai use) into a token mask
//! that the token chain applies before every pick. We do not write a grammar engine: this
//! module only turns a request's constraint into an llguidance `Matcher` over the model's
//! vocabulary and applies its masks to logits.

use std::path::PathBuf;
use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{
    ApproximateTokEnv, SimpleVob, TokEnv, TokRxInfo, TokTrie, INVALID_TOKEN,
};
use llguidance::{Matcher, ParserFactory};
use once_cell::sync::OnceCell;
use serde_json::Value as Json;

use super::chain::LogitsProcessor;
use crate::error::{Error, ErrorKind, Result};

/// What the output must be. Generation can then only produce text the constraint accepts,
/// and ends when the text is complete (nothing but end of sequence can follow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// A JSON Schema (as JSON text); the output is one JSON value that validates. The
    /// subset llguidance supports: <https://github.com/guidance-ai/llguidance/blob/main/docs/json_schema.md>.
    JsonSchema(String),
    /// A regular expression (Rust `regex` syntax) the whole output matches.
    Regex(String),
    /// A Lark grammar (llguidance's dialect, `start` rule first):
    /// <https://github.com/guidance-ai/llguidance/blob/main/docs/syntax.md>.
    Grammar(String),
    /// The output is exactly one of these strings.
    Choices(Vec<String>),
}

impl Constraint {
    fn kind(&self) -> &'static str {
        match self {
            Constraint::JsonSchema(_) => "JSON Schema",
            Constraint::Regex(_) => "regex",
            Constraint::Grammar(_) => "grammar",
            Constraint::Choices(_) => "choices",
        }
    }

    fn grammar(&self) -> Result<TopLevelGrammar> {
        Ok(match self {
            Constraint::JsonSchema(text) => {
                let schema = serde_json::from_str(text).map_err(|e| {
                    Error::invalid(format!("the JSON Schema is not valid JSON: {e}"))
                })?;
                TopLevelGrammar::from_json_schema(schema)
            }
            Constraint::Regex(rx) => TopLevelGrammar::from_regex(rx),
            Constraint::Grammar(lark) => TopLevelGrammar::from_lark(lark.clone()),
            Constraint::Choices(choices) => {
                if choices.is_empty() {
                    return Err(Error::invalid("the choice list is empty"));
                }
                if let Some(i) = choices.iter().position(String::is_empty) {
                    return Err(Error::invalid(format!("choice {i} is empty")));
                }
                // Lark string literals are JSON strings: any text is quoted exactly.
                let literals: Vec<String> = choices
                    .iter()
                    .map(|c| Json::String(c.clone()).to_string())
                    .collect();
                TopLevelGrammar::from_lark(format!("start: {}", literals.join(" | ")))
            }
        })
    }
}

/// Compiles constraints against one model's vocabulary. The vocabulary index takes
/// 0.2-2 s to build (it walks every token), so it is built on the first constrained
/// request and shared by all later ones.
pub(crate) struct ConstraintCompiler {
    tokenizer_json: PathBuf,
    eos_ids: Vec<u32>,
    /// Logits per position (at least the tokenizer's vocabulary).
    vocab: Option<usize>,
    factory: OnceCell<Arc<ParserFactory>>,
}

impl ConstraintCompiler {
    pub fn new(tokenizer_json: PathBuf, eos_ids: Vec<u32>, vocab: Option<usize>) -> Self {
        Self {
            tokenizer_json,
            eos_ids,
            vocab,
            factory: OnceCell::new(),
        }
    }

    /// A fresh matcher for `constraint`, checked: a malformed or unsatisfiable constraint
    /// is InvalidArgument with llguidance's message (which gives the error's position).
    pub fn compile(&self, constraint: &Constraint) -> Result<ConstraintState> {
        let grammar = constraint.grammar()?;
        let factory = self.factory.get_or_try_init(|| self.build_factory())?;
        let kind = constraint.kind();
        // llguidance returns errors for what it rejects; a panic in its compiler would be a
        // bug there, and must still reach the caller as an error naming the constraint.
        let parser = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            factory.create_parser(grammar)
        }))
        .map_err(|_| Error::internal(format!("llguidance panicked compiling the {kind}")))?
        .map_err(|e| Error::invalid(format!("invalid {kind}: {e}")))?;
        // Matcher catches its own panics (they become its error state).
        let mut matcher = Matcher::new(Ok(parser));
        let first = matcher
            .compute_mask()
            .map_err(|e| Error::invalid(format!("invalid {kind}: {e}")))?;
        if first.is_zero() {
            return Err(Error::invalid(format!(
                "the {kind} accepts no text: no token can start the output"
            )));
        }
        Ok(ConstraintState {
            matcher,
            next_mask: Some(first),
            eos_ids: self.eos_ids.clone(),
            kind,
            consumed: 0,
        })
    }

    /// The vocabulary as llguidance sees it: each token's bytes, read from tokenizer.json
    /// by llguidance's own reader (the one its C API gives llama.cpp and onnxruntime-genai).
    /// toktrie_hf_tokenizers would do the same through a second copy of the `tokenizers`
    /// crate (it pins 0.21; we use 0.22), and the masks need only the bytes.
    fn build_factory(&self) -> Result<Arc<ParserFactory>> {
        let unsupported = |e: String| {
            Error::new(
                ErrorKind::Unsupported,
                format!(
                    "constraints cannot use the tokenizer {}: {e}",
                    self.tokenizer_json.display()
                ),
            )
        };
        let bytes = std::fs::read(&self.tokenizer_json)
            .map_err(|e| Error::io(&self.tokenizer_json, &e).context("tokenizer"))?;
        let json: Json = serde_json::from_slice(&bytes).map_err(|e| unsupported(e.to_string()))?;
        // The reader asserts on token names it does not expect; a panic here must reach
        // the caller as an error, not unwind through the C ABI.
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || -> std::result::Result<ParserFactory, String> {
                let mut words = llguidance::token_bytes_from_tokenizer_json(&json)
                    .map_err(|e| e.to_string())?;
                let size = words.len().max(self.vocab.unwrap_or(0));
                words.resize(size, Vec::new());
                let eos: Vec<u32> = self
                    .eos_ids
                    .iter()
                    .copied()
                    .filter(|&id| (id as usize) < size)
                    .collect();
                let first_eos = eos.first().copied().unwrap_or(INVALID_TOKEN);
                let mut trie = TokTrie::from(&TokRxInfo::new(size as u32, first_eos), &words);
                if eos.len() > 1 {
                    trie = trie.with_eos_tokens(&eos);
                }
                // Masks need the trie only; the tokenize function serves llguidance's forced
                // tokens, which we do not use.
                let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
                let mut factory = ParserFactory::new(
                    &env,
                    Default::default(),
                    &llguidance::earley::SlicedBiasComputer::general_slices(),
                )
                .map_err(|e| e.to_string())?;
                // llguidance's warnings would go to the host app's stderr.
                factory.quiet();
                Ok(factory)
            },
        ));
        match built {
            Ok(Ok(factory)) => Ok(Arc::new(factory)),
            Ok(Err(e)) => Err(unsupported(e)),
            Err(_) => Err(unsupported(
                "llguidance's tokenizer.json reader panicked".into(),
            )),
        }
    }
}

/// One generation's constraint: llguidance's parser state over the tokens kept so far.
/// Made fresh for every request, so nothing carries over between requests or across a
/// reused KV prefix (the prompt is never fed to it).
pub(crate) struct ConstraintState {
    matcher: Matcher,
    /// The mask for the next row, when computed ahead (during the forward pass).
    next_mask: Option<SimpleVob>,
    eos_ids: Vec<u32>,
    kind: &'static str,
    /// Output tokens consumed, for error messages.
    consumed: usize,
}

impl ConstraintState {
    fn failed(&self, e: impl std::fmt::Display) -> Error {
        Error::invalid(format!(
            "the {} failed after {} output tokens: {e}",
            self.kind, self.consumed
        ))
    }
}

impl LogitsProcessor for ConstraintState {
    fn prepare(&mut self) -> Result<()> {
        if self.next_mask.is_none() {
            // Once the grammar has stopped, the mask holds the end-of-sequence ids only.
            let mask = self
                .matcher
                .compute_mask_or_eos()
                .map_err(|e| self.failed(e))?;
            self.next_mask = Some(mask);
        }
        Ok(())
    }

    fn apply(&mut self, logits: &mut [f32]) -> Result<()> {
        self.prepare()?;
        let mask = self.next_mask.take().unwrap_or_default();
        // Every id the mask does not allow (and every id past its end) becomes -inf; the
        // model's end-of-sequence ids are allowed exactly when the text may end here.
        let words = mask.as_slice();
        for (w, chunk) in logits.chunks_mut(32).enumerate() {
            let bits = words.get(w).copied().unwrap_or(0);
            if bits == u32::MAX {
                continue;
            }
            for (b, l) in chunk.iter_mut().enumerate() {
                if bits & (1 << b) == 0 {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        Ok(())
    }

    fn accept(&mut self, token: u32) -> Result<()> {
        self.next_mask = None;
        if self.eos_ids.contains(&token) {
            // Generation ends here; llguidance has nothing left to check.
            return Ok(());
        }
        self.matcher
            .consume_token(token)
            .map_err(|e| self.failed(e))?;
        self.consumed += 1;
        Ok(())
    }

    fn finished(&self) -> bool {
        self.matcher.is_stopped()
    }

    fn valid_prefix(&mut self, tokens: &[u32]) -> usize {
        self.matcher.validate_tokens(tokens).unwrap_or(0)
    }
}
