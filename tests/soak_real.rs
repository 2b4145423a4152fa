//! Leak soak on the real models, where ONNX Runtime's per-shape arena growth can show:
//! all-MiniLM-L6-v2 (5,000 calls, texts of random lengths 1-256 tokens) and then SmolLM2
//! q4 (200 generations of random prompt lengths, 8-600 tokens, so some span two prefill
//! chunks). Each phase's RSS after its warm-up must stay flat (bounds below). One test in
//! this file, so the process is its own. The curves go to target/soak-rss-real.csv
//! (scripts/plot_soak.py draws them beside the tiny soak for RELIABILITY.md).

mod common;

use common::*;
use nodespace::{
    Embedder, EmbedderOptions, Flow, GenerateRequest, Generator, GeneratorOptions, Prompt,
    SamplingOptions,
};

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Common English words: each is one token for both models' tokenizers, so `words(n)`
/// is about n tokens.
const WORDS: &[&str] = &[
    "the", "budget", "meeting", "review", "team", "will", "send", "report", "on", "friday", "we",
    "plan", "launch", "and", "risk", "owner", "next", "week", "call", "notes",
];

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
    fn words(&mut self, n: u64) -> String {
        (0..n)
            .map(|_| WORDS[self.below(WORDS.len() as u64) as usize])
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Samples (calls so far, RSS MB) of one phase; checks that RSS after the warm-up (the
/// first fifth of the calls) ends within `bound_mb` of where it was then.
struct Phase {
    name: &'static str,
    samples: Vec<(usize, f64)>,
}

impl Phase {
    fn check(&self, bound_mb: f64) -> String {
        let warm = self.samples[self.samples.len() / 5].1;
        let last = self.samples.last().unwrap().1;
        let peak = self.samples[self.samples.len() / 5..]
            .iter()
            .map(|s| s.1)
            .fold(0.0, f64::max);
        let calls = self.samples.last().unwrap().0;
        eprintln!(
            "soak {}: {calls} calls; RSS after warm-up {warm:.1} MB, at the end {last:.1} MB, peak {peak:.1} MB",
            self.name
        );
        assert!(
            last - warm < bound_mb,
            "{}: RSS grew by {:.1} MB after warm-up (bound {bound_mb} MB)",
            self.name,
            last - warm
        );
        self.samples
            .iter()
            .map(|(i, r)| format!("{},{i},{r:.2}\n", self.name))
            .collect()
    }
}

#[test]
fn rss_stays_flat_with_the_real_models() {
    init();
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("*** SKIPPED: RSS is read from /proc, which this platform lacks ***");
        return;
    }
    let (Some(minilm), Some(smollm)) = (real("all-MiniLM-L6-v2"), real("SmolLM2-135M-Instruct"))
    else {
        return;
    };
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);

    let calls = 5_000;
    let mut embed = Phase {
        name: "MiniLM",
        samples: Vec::new(),
    };
    {
        let embedder = Embedder::new(EmbedderOptions::new(&minilm)).unwrap();
        for i in 0..calls {
            // [CLS] and [SEP] are two of the 1-256 tokens.
            let n = rng.below(255);
            let text = rng.words(n);
            embedder.embed(&[text.as_str()]).unwrap();
            if i % (calls / 50) == 0 || i + 1 == calls {
                embed.samples.push((i + 1, rss_mb()));
            }
        }
    }

    let generations = 200;
    let mut generate = Phase {
        name: "SmolLM2-q4",
        samples: Vec::new(),
    };
    {
        let mut options = GeneratorOptions::new(&smollm);
        options.variant = Some("q4".into());
        let generator = Generator::new(options).unwrap();
        for i in 0..generations {
            let n = 8 + rng.below(593);
            let mut r = GenerateRequest::new(Prompt::Text(rng.words(n)));
            r.max_new_tokens = Some(8);
            r.sampling = Some(SamplingOptions::greedy());
            generator
                .generate(&r, None, &mut |_| Flow::Continue)
                .unwrap();
            if i % (generations / 50) == 0 || i + 1 == generations {
                generate.samples.push((i + 1, rss_mb()));
            }
        }
    }

    // Bounds: a few MB on processes of ~150-300 MB. After warm-up ONNX Runtime's arena
    // has grown to the longest shapes seen (it keeps freed blocks), so new lengths reuse
    // it; what remains is allocator noise. A leak of one buffer per call (a few KB for the
    // shortest outputs) would pass 5,000 x 1.5 KB = 7 MB over the MiniLM phase and
    // 200 x 49 KB (one SmolLM2 logits row) = 10 MB over the generation phase.
    let csv: String = std::iter::once("phase,calls,rss_mb\n".to_string())
        .chain([embed.check(6.0), generate.check(8.0)])
        .collect();
    let out = repo().join("target/soak-rss-real.csv");
    let _ = std::fs::write(&out, csv);
    eprintln!("curves: {}", out.display());
}
