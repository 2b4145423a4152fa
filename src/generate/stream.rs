//! Turning generated token ids into streamed text chunks.
//!
//! Two rules: a chunk is always whole UTF-8 characters (a character split over several
//! byte tokens is held back until complete), and a stop string is never emitted, even when
//! it arrives split over several tokens (text that could be the start of a stop string is
//! held back until it is known not to be).

use tokenizers::Tokenizer;

use crate::error::{Error, ErrorKind, Result};

/// Incremental detokenizer: decodes a window of recent tokens and emits what is new once
/// it no longer ends in a partial character.
pub(crate) struct Detokenizer<'a> {
    tokenizer: &'a Tokenizer,
    ids: Vec<u32>,
    /// Tokens before `prefix` are fully emitted; `prefix..read` is kept as decoding context.
    prefix: usize,
    read: usize,
}

impl<'a> Detokenizer<'a> {
    pub fn new(tokenizer: &'a Tokenizer) -> Self {
        Self {
            tokenizer,
            ids: Vec::new(),
            prefix: 0,
            read: 0,
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| Error::new(ErrorKind::Tokenizer, format!("cannot decode tokens: {e}")))
    }

    /// Add a token; returns the text it completes (possibly empty).
    pub fn push(&mut self, id: u32) -> Result<String> {
        self.ids.push(id);
        let before = self.decode(&self.ids[self.prefix..self.read])?;
        let after = self.decode(&self.ids[self.prefix..])?;
        if after.len() > before.len() && after.starts_with(&before) && !after.ends_with('\u{FFFD}')
        {
            let new = after[before.len()..].to_string();
            self.prefix = self.read;
            self.read = self.ids.len();
            Ok(new)
        } else {
            Ok(String::new())
        }
    }

    /// Whatever is still held back (an incomplete character is decoded as U+FFFD).
    pub fn finish(&mut self) -> Result<String> {
        let before = self.decode(&self.ids[self.prefix..self.read])?;
        let after = self.decode(&self.ids[self.prefix..])?;
        self.prefix = self.ids.len();
        self.read = self.ids.len();
        Ok(after
            .strip_prefix(before.as_str())
            .map(str::to_string)
            .unwrap_or_default())
    }
}

/// Holds back text that may be the start of a stop string.
pub(crate) struct StopFilter {
    stops: Vec<String>,
    text: String,
    emitted: usize,
}

/// What the filter lets through for one piece of new text.
pub(crate) struct Filtered {
    pub emit: String,
    pub stopped: bool,
}

impl StopFilter {
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops,
            text: String::new(),
            emitted: 0,
        }
    }

    pub fn push(&mut self, new: &str) -> Filtered {
        // A stop string may begin in text held back earlier, never in text emitted.
        let search_from = self.emitted;
        self.text.push_str(new);
        let found = self
            .stops
            .iter()
            .filter_map(|s| {
                self.text[search_from..]
                    .find(s.as_str())
                    .map(|at| search_from + at)
            })
            .min();
        if let Some(at) = found {
            let emit = self.text[self.emitted..at].to_string();
            self.text.truncate(at);
            self.emitted = at;
            return Filtered {
                emit,
                stopped: true,
            };
        }
        let hold = self.held_suffix();
        let end = self.text.len() - hold;
        let emit = self.text[self.emitted..end].to_string();
        self.emitted = end;
        Filtered {
            emit,
            stopped: false,
        }
    }

    /// Length of the longest suffix of the unemitted text that is a proper prefix of a stop string.
    fn held_suffix(&self) -> usize {
        let pending = &self.text[self.emitted..];
        let mut longest = 0;
        for stop in &self.stops {
            for len in (1..stop.len().min(pending.len() + 1)).rev() {
                if len <= longest {
                    break;
                }
                if pending.is_char_boundary(pending.len() - len)
                    && stop.is_char_boundary(len)
                    && pending.ends_with(&stop[..len])
                {
                    longest = len;
                    break;
                }
            }
        }
        longest
    }

    /// Release what was held back (generation ended without completing a stop string).
    pub fn finish(&mut self) -> String {
        let rest = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        rest
    }

    /// All text let through so far, stop string excluded.
    pub fn text(&self) -> &str {
        &self.text[..self.emitted]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (Vec<String>, bool, String) {
        let mut f = StopFilter::new(stops.iter().map(|s| s.to_string()).collect());
        let mut chunks = Vec::new();
        for p in pieces {
            let out = f.push(p);
            if !out.emit.is_empty() {
                chunks.push(out.emit);
            }
            if out.stopped {
                return (chunks, true, f.text().to_string());
            }
        }
        let rest = f.finish();
        if !rest.is_empty() {
            chunks.push(rest);
        }
        (chunks, false, f.text().to_string())
    }

    #[test]
    fn stop_string_split_across_pieces_is_never_emitted() {
        let (chunks, stopped, text) = run(&["User:"], &["Hello", " Us", "er", ":", " more"]);
        assert!(stopped);
        assert_eq!(chunks.concat(), "Hello ");
        assert_eq!(text, "Hello ");
        assert!(!chunks.iter().any(|c| c.contains("Us")));
    }

    #[test]
    fn false_start_is_released() {
        let (chunks, stopped, text) = run(&["User:"], &["a Us", "eful", " tool"]);
        assert!(!stopped);
        assert_eq!(chunks.concat(), "a Useful tool");
        assert_eq!(text, "a Useful tool");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let (chunks, stopped, _) = run(&["END", "\n\n"], &["one\n\ntwo END"]);
        assert!(stopped);
        assert_eq!(chunks.concat(), "one");
    }

    #[test]
    fn multibyte_stop_strings() {
        let (chunks, stopped, _) = run(&["→stop"], &["a →", "st", "op b"]);
        assert!(stopped);
        assert_eq!(chunks.concat(), "a ");
    }

    #[test]
    fn no_stops_passes_everything() {
        let (chunks, stopped, text) = run(&[], &["a", "b"]);
        assert!(!stopped);
        assert_eq!(chunks, vec!["a", "b"]);
        assert_eq!(text, "ab");
    }
}
