//! The nodespace command line: embed text, inspect a model, generate and chat.
//!
//! ```text
//! cli embed    --model DIR [--variant NAME] [--device D] [--file F] [--json] [TEXT...]
//! cli info     --model DIR [--variant NAME] [--device D]      (embedding or generation model)
//! cli generate --model DIR (--prompt TEXT | --system S --user U | --messages FILE)
//!              [--max-new-tokens N] [--temperature T --top-k K --top-p P --seed S | --greedy]
//!              [--stop S] [--lookup on|off|force]
//!              [--json-schema FILE | --regex RE | --grammar FILE | --choice a,b,c]
//!              [--tools FILE [--tool-choice auto|required|one]] [--json]
//! cli chat     --model DIR [--system S]
//! cli --help | cli COMMAND --help
//! ```
//! `embed --json` prints one JSON array of floats per text, in input order, one per line;
//! `generate --json` one JSON object with the keys `prompt_tokens`, `tokens`, `text`,
//! `stop_reason` and `stats`; other tools check the library with these formats.
//! Exit status: 0, 1 when a command fails, 2 for no or an unknown command.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use nodespace::{Device, Embedder, EmbedderOptions};

mod generate;

/// Parsed `--flag value` pairs, `--switch`es and positional arguments.
pub struct Args {
    pairs: Vec<(String, String)>,
    switches: Vec<String>,
    positional: Vec<String>,
}

const SWITCHES: &[&str] = &[
    "--json",
    "--greedy",
    "--no-normalize",
    "--fail-on-truncation",
];

impl Args {
    fn parse(raw: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut args = Args {
            pairs: Vec::new(),
            switches: Vec::new(),
            positional: Vec::new(),
        };
        let mut raw = raw.peekable();
        while let Some(arg) = raw.next() {
            if arg == "--" {
                args.positional.extend(raw.by_ref());
            } else if SWITCHES.contains(&arg.as_str()) {
                args.switches.push(arg);
            } else if let Some(flag) = arg.strip_prefix("--") {
                let value = raw
                    .next()
                    .ok_or_else(|| format!("--{flag} needs a value"))?;
                args.pairs.push((format!("--{flag}"), value));
            } else {
                args.positional.push(arg);
            }
        }
        Ok(args)
    }

    pub fn get(&self, flag: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, flag: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(f, _)| f == flag)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn has(&self, switch: &str) -> bool {
        self.switches.iter().any(|s| s == switch)
    }

    pub fn parsed<T: std::str::FromStr>(&self, flag: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        self.get(flag)
            .map(|v| v.parse::<T>().map_err(|e| format!("{flag} {v}: {e}")))
            .transpose()
    }

    pub fn model(&self) -> Result<&str, String> {
        self.get("--model")
            .ok_or_else(|| "--model DIR is required".to_string())
    }

    pub fn device(&self) -> Result<Device, String> {
        Ok(self.parsed::<Device>("--device")?.unwrap_or_default())
    }

    fn check_known(&self, known: &[&str]) -> Result<(), String> {
        for (flag, _) in &self.pairs {
            if !known.contains(&flag.as_str()) {
                return Err(format!("unknown option {flag}"));
            }
        }
        Ok(())
    }
}

const EMBED_USAGE: &str = "  cli embed    --model DIR [--variant NAME] [--device auto|cpu|cuda|coreml|directml] [--prompt-name NAME]
               [--output-dimension N] [--fail-on-truncation] [--file F] [--json] [--no-normalize] [TEXT...]
               --output-dimension: a Matryoshka size (cli info lists the model's)
               --fail-on-truncation: a text over the model's max length is an error, not cut";
const INFO_USAGE: &str =
    "  cli info     --model DIR [--variant NAME] [--device D]      (embedding or generation model)";
const GENERATE_USAGE: &str = "  cli generate --model DIR (--prompt TEXT | --system S --user U | --messages FILE) [--variant NAME] [--max-new-tokens N]
               [--temperature T --top-k K --top-p P --min-p P --seed S | --greedy] [--stop S]...
               [--lookup on|off|force] [--json-schema FILE | --regex RE | --grammar FILE | --choice a,b,c]
               [--tools FILE [--tool-choice auto|required|one]] [--json]
               --lookup: prompt-lookup speculative decoding (default on; same greedy tokens, faster on copying work;
                 force: also on graphs where drafts can change the output, see `cli info`)
               --json-schema, --regex, --grammar (Lark), --choice: the output must match; it ends when complete
               --messages: a chat as a JSON array of messages (transformers' form: tool_calls, role tool)
               --tools: functions the model may call (a JSON array, as transformers takes them); the calls
               are printed after the text; --tool-choice required/one: the answer is valid calls (constrained)";
const CHAT_USAGE: &str =
    "  cli chat     --model DIR [--variant NAME] [--system S] [--max-new-tokens N]";

fn usage(command: Option<&str>) -> String {
    let lines = match command {
        Some("embed") => EMBED_USAGE.to_string(),
        Some("info") => INFO_USAGE.to_string(),
        Some("generate") => GENERATE_USAGE.to_string(),
        Some("chat") => CHAT_USAGE.to_string(),
        _ => [EMBED_USAGE, INFO_USAGE, GENERATE_USAGE, CHAT_USAGE].join("\n"),
    };
    format!(
        "usage:\n{lines}\n\n\
         embed --json prints one JSON array of floats per text, one per line; generate --json prints\n\
         one JSON object (keys prompt_tokens, tokens, text, stop_reason, stats).\n\
         cli --help, or cli COMMAND --help, prints this."
    )
}

fn is_help(arg: &str) -> bool {
    arg == "--help" || arg == "-h" || arg == "help"
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = raw.first().map(String::as_str) else {
        eprintln!("cli: no command given\n\n{}", usage(None));
        return ExitCode::from(2);
    };
    if is_help(command) {
        println!("{}", usage(None));
        return ExitCode::SUCCESS;
    }
    if !matches!(command, "embed" | "info" | "generate" | "chat") {
        eprintln!("error: unknown command '{command}'\n\n{}", usage(None));
        return ExitCode::from(2);
    }
    // `cli COMMAND --help` (or -h) anywhere before a `--`: that command's usage.
    let rest = &raw[1..];
    if rest
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--help" || a == "-h")
    {
        println!("{}", usage(Some(command)));
        return ExitCode::SUCCESS;
    }
    let result = Args::parse(rest.iter().cloned()).and_then(|args| match command {
        "embed" => embed(&args),
        "info" => info(&args),
        "generate" => generate::generate(&args),
        _ => generate::chat(&args),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load_embedder(args: &Args) -> Result<Embedder, String> {
    let mut options = EmbedderOptions::new(args.model()?);
    options.variant = args.get("--variant").map(str::to_string);
    options.device = args.device()?;
    options.prompt_name = args.get("--prompt-name").map(str::to_string);
    options.output_dimension = args.parsed("--output-dimension")?;
    options.normalize = !args.has("--no-normalize");
    options.fail_on_truncation = args.has("--fail-on-truncation");
    options.intra_threads = args.parsed("--threads")?;
    Embedder::new(options).map_err(|e| e.to_string())
}

fn embed(args: &Args) -> Result<(), String> {
    args.check_known(&[
        "--model",
        "--variant",
        "--device",
        "--prompt-name",
        "--output-dimension",
        "--file",
        "--threads",
    ])?;
    let mut texts: Vec<String> = args.positional.clone();
    if let Some(file) = args.get("--file") {
        let reader: Box<dyn BufRead> = if file == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::io::BufReader::new(
                std::fs::File::open(file).map_err(|e| format!("{file}: {e}"))?,
            ))
        };
        for line in reader.lines() {
            texts.push(line.map_err(|e| format!("{file}: {e}"))?);
        }
    }
    if texts.is_empty() {
        return Err("no texts: pass TEXT arguments or --file F".into());
    }
    let embedder = load_embedder(args)?;
    let vectors = embedder.embed(&texts).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    if args.has("--json") {
        for v in &vectors {
            writeln!(
                out,
                "{}",
                serde_json::to_string(v).map_err(|e| e.to_string())?
            )
            .map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    let info = embedder.info();
    writeln!(
        out,
        "{} texts -> {} dimensions ({})",
        texts.len(),
        info.dimension,
        info.provider.name
    )
    .ok();
    writeln!(out, "cosine similarity:").ok();
    for (i, a) in vectors.iter().enumerate() {
        let row: Vec<String> = vectors
            .iter()
            .map(|b| format!("{:6.3}", cosine(a, b)))
            .collect();
        writeln!(out, "  [{i}] {}  {}", row.join(" "), preview(&texts[i])).ok();
    }
    Ok(())
}

fn info(args: &Args) -> Result<(), String> {
    args.check_known(&[
        "--model",
        "--variant",
        "--device",
        "--prompt-name",
        "--output-dimension",
        "--threads",
    ])?;
    // Not an embedding model: a generation model, else the embedder's error says why.
    let embedder = match load_embedder(args) {
        Ok(embedder) => embedder,
        Err(e) => return generate::info(args).map_err(|_| e),
    };
    let info = embedder.info();
    println!("model:       {}", info.model_path.display());
    println!("dimension:   {}", info.dimension);
    if !info.matryoshka_dimensions.is_empty() {
        let dims: Vec<String> = info
            .matryoshka_dimensions
            .iter()
            .map(usize::to_string)
            .collect();
        println!("matryoshka:  {} (--output-dimension)", dims.join(", "));
    }
    println!(
        "pooling:     {}",
        info.pooling
            .map_or("in graph (sentence_embedding)", |p| p.as_str())
    );
    println!("normalize:   {}", info.normalize);
    println!(
        "max length:  {} tokens ({})",
        info.max_length,
        if info.fail_on_truncation {
            "longer texts are an error"
        } else {
            "longer texts are truncated; --fail-on-truncation makes them an error"
        }
    );
    println!("output:      {}", info.output_name);
    println!(
        "prompt:      {}",
        info.prompt
            .as_deref()
            .map_or("none".to_string(), |p| format!("{p:?}"))
    );
    if !info.prompts.is_empty() {
        let names: Vec<&str> = info.prompts.keys().map(String::as_str).collect();
        println!("prompts:     {} (--prompt-name)", names.join(", "));
    }
    print_provider_and_runtime(&info.provider)
}

fn print_provider_and_runtime(provider: &nodespace::ActiveProvider) -> Result<(), String> {
    let runtime = nodespace::runtime_info().map_err(|e| e.to_string())?;
    println!("provider:    {}", provider.name);
    if let Some(reason) = &provider.fallback_reason {
        println!("fallback:    {reason}");
    }
    println!(
        "onnxruntime: {} ({})",
        runtime.version,
        runtime.library_path.display()
    );
    Ok(())
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

fn preview(text: &str) -> String {
    let short: String = text.chars().take(50).collect();
    if short.len() < text.len() {
        format!("{short}…")
    } else {
        short
    }
}
