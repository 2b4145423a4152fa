//! Prompt-lookup speculative decoding on the tiny committed decoders: with greedy decoding
//! the tokens are exactly the plain loop's on every graph layout (Optimum, fp16 KV, Gemma
//! positions, fused in-place KV, onnxruntime-genai folder), through stop strings,
//! max_new_tokens, EOS, cancel and prefix reuse; with sampling the distribution is kept.
//!
//! The tiny models' greedy top-2 logit gaps are large (`min_top2_margin` in expected.json),
//! so the float differences between a one-token step and a multi-token verify pass cannot
//! flip a greedy choice: identical tokens are the expected result, not luck.

mod common;

use common::*;
use nodespace::{
    CancelHandle, ChatMessage, Flow, GenerateRequest, GenerationResult, Generator,
    GeneratorOptions, LookupOptions, Prompt, SamplingOptions, StopReason,
};

/// Prompts of repeated word pairs: on them the tiny models' outputs repeat n-grams of
/// prompt and output, so drafts are made, some accepted and most rejected (over these
/// prompts and 80 tokens each, 12 to 70 accepted and 450 to 680 drafted per decoder).
fn prompts() -> Vec<String> {
    let words = [
        "the", "fox", "hello", "world", "abc", "1", "2", "3", "a", "b", "mo", "an", "wo", "th",
        "x", "is", "of", "to",
    ];
    let mut prompts = Vec::new();
    for (i, a) in words.iter().enumerate() {
        for (j, b) in words.iter().enumerate() {
            if (i * 7 + j * 3) % 5 == 0 {
                prompts.push(format!("{a} {b} {a} {b} {a} {b}"));
            }
        }
    }
    prompts
}

/// The prompt on which `g` accepts the most draft tokens (80 new tokens, greedy).
fn copying_prompt(g: &Generator) -> String {
    prompts()
        .into_iter()
        .max_by_key(|p| run(g, &request(p, 80, true)).0.stats.accepted_tokens)
        .unwrap()
}

fn load(name: &str) -> Generator {
    init();
    Generator::new(GeneratorOptions::new(tiny(name))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn request(prompt: &str, max_new_tokens: usize, lookup: bool) -> GenerateRequest {
    let mut r = GenerateRequest::new(Prompt::Text(prompt.into()));
    r.max_new_tokens = Some(max_new_tokens);
    r.sampling = Some(SamplingOptions::greedy());
    r.lookup = if lookup {
        LookupOptions::default()
    } else {
        LookupOptions::off()
    };
    r
}

fn assert_same(plain: &GenerationResult, fast: &GenerationResult, what: &str) {
    assert_eq!(plain.tokens, fast.tokens, "{what}: tokens differ");
    assert_eq!(plain.text, fast.text, "{what}: text differs");
    assert_eq!(plain.stop_reason, fast.stop_reason, "{what}: stop reason");
}

#[test]
fn greedy_tokens_are_the_plain_loops_on_every_layout() {
    for name in DECODERS {
        let g = load(name);
        assert!(g.info().verifies_drafts, "{name}: cannot verify drafts");
        let (mut drafted, mut accepted) = (0, 0);
        for prompt in prompts() {
            let (plain, plain_chunks) = run(&g, &request(&prompt, 80, false));
            let (fast, fast_chunks) = run(&g, &request(&prompt, 80, true));
            assert_same(&plain, &fast, &format!("{name} {prompt:?}"));
            assert_eq!(plain_chunks.concat(), fast_chunks.concat());
            assert_eq!(plain.stats.drafted_tokens, 0);
            assert!(fast.stats.accepted_tokens <= fast.stats.drafted_tokens);
            drafted += fast.stats.drafted_tokens;
            accepted += fast.stats.accepted_tokens;
        }
        // Otherwise this test would prove nothing about verification.
        assert!(
            accepted >= 10 && drafted > 2 * accepted,
            "{name}: {accepted} of {drafted} drafted tokens accepted; the prompts must exercise both outcomes"
        );
    }
}

#[test]
fn max_new_tokens_anywhere_in_a_draft() {
    for name in ["gen-llama", "gen-fused"] {
        let g = load(name);
        let prompt = &copying_prompt(&g);
        let full = run(&g, &request(prompt, 80, false)).0;
        for max in 1..=80 {
            let fast = run(&g, &request(prompt, max, true)).0;
            assert_eq!(
                fast.tokens.len(),
                max.min(full.tokens.len()),
                "{name} max {max}"
            );
            assert_eq!(
                fast.tokens[..],
                full.tokens[..fast.tokens.len()],
                "{name} max {max}"
            );
            assert_eq!(fast.stop_reason, StopReason::MaxTokens);
        }
    }
}

#[test]
fn stop_strings_inside_accepted_drafts() {
    for name in ["gen-llama", "gen-fused", "gen-fp16kv"] {
        let g = load(name);
        for prompt in prompts().iter().step_by(9).chain([&copying_prompt(&g)]) {
            let full = run(&g, &request(prompt, 80, false)).0;
            // Stop strings cut from every few characters of the plain output: they end
            // generation inside drafts as often as between them.
            let chars: Vec<char> = full.text.chars().collect();
            for at in (1..chars.len().saturating_sub(3)).step_by(5) {
                let stop: String = chars[at..at + 3].iter().collect();
                let mut plain_r = request(prompt, 80, false);
                plain_r.stop = vec![stop.clone()];
                let mut fast_r = request(prompt, 80, true);
                fast_r.stop = vec![stop.clone()];
                let (plain, plain_chunks) = run(&g, &plain_r);
                let (fast, fast_chunks) = run(&g, &fast_r);
                assert_same(&plain, &fast, &format!("{name} {prompt:?} stop {stop:?}"));
                assert_eq!(plain_chunks.concat(), fast_chunks.concat());
                assert!(!fast.text.contains(&stop));
            }
        }
    }
}

/// An EOS token ends generation where the plain loop ends, also when the verify pass
/// sees it inside a draft: every token of the output is made the EOS in turn (a copy of
/// the folder whose generation_config.json says so).
#[test]
fn eos_anywhere_in_the_output() {
    for name in ["gen-llama", "gen-fused"] {
        let g = load(name);
        let prompt = &copying_prompt(&g);
        let full = run(&g, &request(prompt, 80, false)).0;
        let folder = ScratchModel::copy_of(name, &format!("eos-in-draft-{name}"));
        let mut seen = std::collections::HashSet::new();
        for (first, &eos) in full.tokens.iter().enumerate() {
            if !seen.insert(eos) {
                continue;
            }
            let generation = folder.join("generation_config.json");
            std::fs::write(&generation, format!("{{\"eos_token_id\": [{eos}]}}")).unwrap();
            let g = Generator::new(GeneratorOptions::new(&*folder)).unwrap();
            let plain = run(&g, &request(prompt, 80, false)).0;
            let fast = run(&g, &request(prompt, 80, true)).0;
            assert_eq!(plain.tokens, full.tokens[..first], "{name} eos {eos}");
            assert_same(&plain, &fast, &format!("{name} eos {eos}"));
            assert_eq!(fast.stop_reason, StopReason::Eos);
        }
    }
}

/// A cancel while a verify pass runs (from the callback of an accepted draft token, and
/// from another thread at random moments) ends the generation with the text so far, a
/// prefix of the plain output.
#[test]
fn cancel_mid_verify() {
    let g = load("gen-fused");
    let prompt = &copying_prompt(&g);
    let full = run(&g, &request(prompt, 80, false)).0;
    for after in 1..12 {
        let cancel = CancelHandle::new();
        let mut seen = 0;
        let r = request(prompt, 80, true);
        let result = g
            .generate(&r, Some(&cancel), &mut |_| {
                seen += 1;
                if seen == after {
                    cancel.cancel();
                }
                Flow::Continue
            })
            .unwrap();
        assert_eq!(result.stop_reason, StopReason::Cancelled);
        assert_eq!(result.tokens[..], full.tokens[..result.tokens.len()]);
        // A cancelled generation leaves no cache behind: the next one is the plain output.
        assert_eq!(run(&g, &request(prompt, 80, true)).0.tokens, full.tokens);
    }
    for delay_us in [0u64, 50, 200, 500, 1000, 3000] {
        let cancel = CancelHandle::new();
        let r = request(prompt, 80, true);
        let result = std::thread::scope(|s| {
            let c = cancel.clone();
            s.spawn(move || {
                std::thread::sleep(std::time::Duration::from_micros(delay_us));
                c.cancel();
            });
            g.generate(&r, Some(&cancel), &mut |_| Flow::Continue)
                .unwrap()
        });
        assert_eq!(result.tokens[..], full.tokens[..result.tokens.len()]);
    }
}

/// A follow-up chat turn reuses the KV cache of a generation that verified drafts (the
/// cache may hold draft positions past the last emitted token) and gives the plain text.
#[test]
fn prefix_reuse_after_drafts() {
    for name in ["gen-llama", "gen-fused", "gen-genai"] {
        let prompt = copying_prompt(&load(name));
        let turn = |g: &Generator, lookup: bool| {
            let mut chat = vec![ChatMessage::new("user", &prompt)];
            let mut r = request("", 30, lookup);
            r.prompt = Prompt::Chat(chat.clone());
            let first = run(g, &r).0;
            chat.push(ChatMessage::new("assistant", &first.text));
            chat.push(ChatMessage::new("user", "a b a b"));
            r.prompt = Prompt::Chat(chat);
            (first, run(g, &r).0)
        };
        let plain = turn(&load(name), false);
        let g = load(name);
        let fast = turn(&g, true);
        assert_same(&plain.0, &fast.0, name);
        assert_same(&plain.1, &fast.1, name);
        assert!(fast.1.stats.reused_prompt_tokens > 0, "{name}: no reuse");
    }
}

/// Sampling: a verified draft token is kept when the sampler picks it, which is the
/// speculative acceptance rule for a draft that proposes one token with certainty, and
/// every kept token takes one draw, as in the plain loop. So (1) the same seed gives the
/// plain loop's tokens, and (2) over different seeds the token frequencies at each of the
/// first positions match the plain loop's: a two-sample chi-square statistic below the
/// 0.1% critical value (the seeds are fixed, so the outcome is too).
#[test]
fn sampling_keeps_the_distribution() {
    let g = load("gen-llama");
    let prompt = &copying_prompt(&g);
    let sampling = |seed| SamplingOptions {
        temperature: 0.7,
        seed: Some(seed),
        ..SamplingOptions::greedy()
    };
    const SEEDS: u64 = 300;
    const POSITIONS: usize = 12;
    let mut counts = vec![vec![std::collections::HashMap::<u32, u32>::new(); POSITIONS]; 2];
    let mut accepted = 0;
    for seed in 0..SEEDS {
        let mut same = [
            request(prompt, POSITIONS, false),
            request(prompt, POSITIONS, true),
        ];
        for r in &mut same {
            r.sampling = Some(sampling(seed));
        }
        let (plain, fast) = (run(&g, &same[0]).0, run(&g, &same[1]).0);
        assert_same(&plain, &fast, &format!("seed {seed}"));
        accepted += fast.stats.accepted_tokens;
        for (i, lookup) in [false, true].into_iter().enumerate() {
            // Different seeds for the two loops: this part is about distributions.
            let mut r = request(prompt, POSITIONS, lookup);
            r.sampling = Some(sampling(seed + 100_000 * (i as u64 + 1)));
            for (position, &t) in run(&g, &r).0.tokens.iter().enumerate() {
                *counts[i][position].entry(t).or_default() += 1;
            }
        }
    }
    assert!(accepted > 100, "only {accepted} draft tokens accepted");
    let mut spread = 0;
    for (position, (plain, fast)) in counts[0].iter().zip(&counts[1]).enumerate() {
        let (chi2, cells) = chi_square(plain, fast);
        let dof = cells.saturating_sub(1).max(1) as f64;
        // Wilson-Hilferty approximation of the chi-square 99.9% quantile (z = 3.09).
        let critical = dof * (1.0 - 2.0 / (9.0 * dof) + 3.09 * (2.0 / (9.0 * dof)).sqrt()).powi(3);
        assert!(
            chi2 < critical,
            "position {position}: token frequencies differ: chi2 {chi2:.1} over {cells} cells (critical {critical:.1})"
        );
        spread += usize::from(cells >= 3);
    }
    assert!(spread >= 3, "the test needs spread distributions");
}

/// Two-sample chi-square over the tokens seen at least 5 times in all (the rest pooled
/// into one cell): the statistic and the number of cells.
fn chi_square(
    a: &std::collections::HashMap<u32, u32>,
    b: &std::collections::HashMap<u32, u32>,
) -> (f64, usize) {
    let (na, nb) = (
        a.values().sum::<u32>() as f64,
        b.values().sum::<u32>() as f64,
    );
    let tokens: std::collections::BTreeSet<u32> = a.keys().chain(b.keys()).copied().collect();
    let mut cells = Vec::new();
    let mut rest = (0.0, 0.0);
    for t in tokens {
        let x = *a.get(&t).unwrap_or(&0) as f64;
        let y = *b.get(&t).unwrap_or(&0) as f64;
        if x + y >= 5.0 {
            cells.push((x, y));
        } else {
            rest = (rest.0 + x, rest.1 + y);
        }
    }
    if rest.0 + rest.1 > 0.0 {
        cells.push(rest);
    }
    let chi2 = cells
        .iter()
        .map(|&(x, y)| {
            let (ex, ey) = ((x + y) * na / (na + nb), (x + y) * nb / (na + nb));
            (x - ex).powi(2) / ex + (y - ey).powi(2) / ey
        })
        .sum();
    (chi2, cells.len())
}

#[test]
fn invalid_lookup_settings_are_rejected() {
    let g = load("gen-llama");
    let mut r = request("hi", 4, true);
    r.lookup.min_ngram = 0;
    let e = g.generate(&r, None, &mut |_| Flow::Continue).unwrap_err();
    assert!(e.to_string().contains("n-gram"), "{e}");
}

/// A dynamic int8 graph (Optimum's `model_quantized.onnx`: `DynamicQuantizeLinear` scales
/// activations over the whole pass) is recognised from its nodes: lookup stays off by
/// default and the info says why; `allow_inexact` drafts anyway. The fp32 graph of the
/// same folder keeps lookup on.
#[test]
fn per_pass_quantized_graph_keeps_lookup_off_unless_forced() {
    init();
    let fp32 = load("gen-llama");
    assert_eq!(fp32.info().lookup_off_reason, None);
    let mut options = GeneratorOptions::new(tiny("gen-llama"));
    options.variant = Some("quantized".into());
    let int8 = Generator::new(options).unwrap();
    let reason = int8.info().lookup_off_reason.clone().unwrap_or_default();
    assert!(reason.contains("DynamicQuantizeLinear"), "{reason:?}");
    assert!(int8.info().verifies_drafts);

    let prompt = copying_prompt(&fp32);
    let default = run(&int8, &request(&prompt, 80, true)).0;
    assert_eq!(
        default.stats.drafted_tokens, 0,
        "drafted on a per-pass quantized graph"
    );
    let plain = run(&int8, &request(&prompt, 80, false)).0;
    assert_same(&plain, &default, "int8, lookup at its default");
    let mut forced = request(&prompt, 80, true);
    forced.lookup.allow_inexact = true;
    let forced = run(&int8, &forced).0;
    assert!(
        forced.stats.drafted_tokens > 0,
        "allow_inexact made no drafts"
    );
}
