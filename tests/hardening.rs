//! Hardening on the tiny models: threads mixing embed and generate, cancellation at
//! random points, inputs far beyond the limits, and faults. Bounded for CI; longer runs:
//! `NS_STRESS_SECONDS=600 NS_CANCEL_ROUNDS=100000 cargo test --release --test hardening`.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use nodespace::{
    CancelHandle, Embedder, EmbedderOptions, ErrorKind, Flow, GenerateRequest, Generator,
    GeneratorOptions, Prompt, SamplingOptions, StopReason,
};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn embedder() -> Embedder {
    init();
    Embedder::new(EmbedderOptions::new(tiny("embed-bert"))).unwrap()
}

fn generator() -> Generator {
    init();
    Generator::new(GeneratorOptions::new(tiny("gen-llama"))).unwrap()
}

fn greedy(text: &str, n: usize) -> GenerateRequest {
    let mut r = GenerateRequest::new(Prompt::Text(text.into()));
    r.max_new_tokens = Some(n);
    r.sampling = Some(SamplingOptions::greedy());
    r
}

const TEXTS: [&str; 4] = [
    "budget review",
    "a longer text about the launch plan and its risks",
    "",
    "東京 🍕",
];

/// 16 threads mix embeddings and generations on shared handles for a bounded time; every
/// result equals the single-threaded one, and nothing deadlocks (a watchdog fails the test).
#[test]
fn sixteen_threads_mixing_embed_and_generate() {
    let seconds = env_number("NS_STRESS_SECONDS", 3);
    let e = embedder();
    let g = generator();
    let want_vectors = e.embed(&TEXTS).unwrap();
    let want_tokens = g
        .generate(&greedy("hello there", 8), None, &mut |_| Flow::Continue)
        .unwrap()
        .tokens;
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(seconds + 120);
            while !done.load(Ordering::SeqCst) {
                assert!(
                    Instant::now() < deadline,
                    "stress test did not finish: deadlock?"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let calls = AtomicUsize::new(0);
    let end = Instant::now() + Duration::from_secs(seconds);
    std::thread::scope(|s| {
        for t in 0..16 {
            let (e, g, calls) = (&e, &g, &calls);
            let (want_vectors, want_tokens) = (&want_vectors, &want_tokens);
            s.spawn(move || {
                let mut i = t;
                while Instant::now() < end {
                    if i % 3 == 0 {
                        let r = g
                            .generate(&greedy("hello there", 8), None, &mut |_| Flow::Continue)
                            .unwrap();
                        assert_eq!(&r.tokens, want_tokens, "thread {t}: generation differs");
                    } else {
                        assert_eq!(
                            &e.embed(&TEXTS).unwrap(),
                            want_vectors,
                            "thread {t}: vectors differ"
                        );
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
    });
    done.store(true, Ordering::SeqCst);
    watchdog.join().unwrap();
    eprintln!(
        "stress: {} calls from 16 threads in {seconds} s, all equal to the single-threaded results",
        calls.load(Ordering::Relaxed)
    );
}

/// Cancel 1000 generations at random points (before the start, from another thread after a
/// random delay, inside the callback). Every call returns; a cancelled one says so; the
/// generator works afterwards. Prints the P99 time from cancel to return.
#[test]
fn cancellation_at_random_points() {
    let rounds = env_number("NS_CANCEL_ROUNDS", 1000) as usize;
    let g = generator();
    let want = g
        .generate(&greedy("hello there", 24), None, &mut |_| Flow::Continue)
        .unwrap()
        .tokens;
    // Long enough (100 tokens) for a cancel from another thread to land mid-generation.
    let full = g
        .generate(&greedy("hello there", 100), None, &mut |_| Flow::Continue)
        .unwrap();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut latencies_us: Vec<f64> = Vec::new();
    let mut cancelled = [0usize; 3];
    let mut finished = [0usize; 3];
    for round in 0..rounds {
        let cancel = CancelHandle::new();
        let request = greedy("hello there", 100);
        let outcome = match round % 3 {
            0 => {
                cancel.cancel();
                let r = g
                    .generate(&request, Some(&cancel), &mut |_| Flow::Continue)
                    .unwrap();
                assert_eq!(r.tokens.len(), 0);
                r.stop_reason
            }
            1 => {
                // Both threads start together; the canceller spins for a random part of the
                // generation's duration (sleep is too coarse for a tiny model), then cancels.
                let delay =
                    Duration::from_micros(next() % (full.stats.total_ms * 800.0) as u64 + 1);
                let barrier = std::sync::Barrier::new(2);
                let cancelled_at = std::sync::Mutex::new(None);
                let (r, returned) = std::thread::scope(|s| {
                    s.spawn(|| {
                        barrier.wait();
                        let start = Instant::now();
                        while start.elapsed() < delay {
                            std::hint::spin_loop();
                        }
                        *cancelled_at.lock().unwrap() = Some(Instant::now());
                        cancel.cancel();
                    });
                    barrier.wait();
                    let r = g
                        .generate(&request, Some(&cancel), &mut |_| Flow::Continue)
                        .unwrap();
                    (r, Instant::now())
                });
                if r.stop_reason == StopReason::Cancelled {
                    if let Some(at) = *cancelled_at.lock().unwrap() {
                        latencies_us
                            .push(returned.saturating_duration_since(at).as_secs_f64() * 1e6);
                    }
                }
                r.stop_reason
            }
            _ => {
                let at = (next() % 10) as usize;
                let mut seen = 0;
                let r = g
                    .generate(&request, Some(&cancel), &mut |_| {
                        seen += 1;
                        if seen > at {
                            cancel.cancel();
                        }
                        Flow::Continue
                    })
                    .unwrap();
                r.stop_reason
            }
        };
        match outcome {
            StopReason::Cancelled => cancelled[round % 3] += 1,
            _ => finished[round % 3] += 1,
        }
    }
    let after = g
        .generate(&greedy("hello there", 24), None, &mut |_| Flow::Continue)
        .unwrap()
        .tokens;
    assert_eq!(
        after, want,
        "the generator changed after {rounds} cancellations"
    );
    latencies_us.sort_by(f64::total_cmp);
    let p = |q: f64| {
        latencies_us
            .get(((latencies_us.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    eprintln!(
        "cancellation: {rounds} rounds; cancelled before start / from another thread / in the callback: {cancelled:?}, finished before the cancel landed: {finished:?}; cancel -> return: P50 {:.0} us, P99 {:.0} us, max {:.0} us ({} timed)",
        p(0.5),
        p(0.99),
        p(1.0),
        latencies_us.len()
    );
    assert_eq!(
        finished[0], 0,
        "a pre-cancelled handle did not stop a generation"
    );
    assert_eq!(
        finished[2], 0,
        "a cancel from the callback did not stop a generation"
    );
    // Tiny models finish in ~1 ms, so many cross-thread cancels arrive after the end; enough
    // must land mid-generation for the latency figure to mean something.
    assert!(
        cancelled[1] >= rounds / 30,
        "too few cross-thread cancels landed mid-generation: {cancelled:?} {finished:?}"
    );
    assert!(p(0.99) < 50_000.0, "P99 cancel latency {:.0} us", p(0.99));
}

/// Cancels in a saturated pool: one session, three generations at a time, so at any moment
/// one runs and two wait for the session. Each round cancels a random subset after a
/// random delay: a cancelled call returns promptly whether it was running or queued, the
/// others finish with the solo tokens, and the generator is unchanged afterwards.
#[test]
fn cancellation_in_a_saturated_pool() {
    init();
    let rounds = (env_number("NS_CANCEL_ROUNDS", 1000) / 10).max(10) as usize;
    let mut options = GeneratorOptions::new(tiny("gen-llama"));
    options.max_sessions = 1;
    let g = Generator::new(options).unwrap();
    let request = greedy("hello there", 100);
    // A host that does work per chunk: a generation takes ~50 ms instead of ~2 ms, so a
    // queued call that waited for the running one would show in the latencies.
    let slow_host = |_: &str| {
        std::thread::sleep(Duration::from_micros(500));
        Flow::Continue
    };
    // The delays scale with a warm generation's time: a first, cold one can take several
    // times longer, and cancels spread over that would mostly land after the end.
    g.generate(&request, None, &mut slow_host.clone()).unwrap();
    let want = g.generate(&request, None, &mut slow_host.clone()).unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut latencies_us: Vec<f64> = Vec::new();
    let (mut cancelled, mut finished) = (0usize, 0usize);
    for _ in 0..rounds {
        let handles: Vec<CancelHandle> = (0..3).map(|_| CancelHandle::new()).collect();
        let chosen: Vec<bool> = (0..3).map(|_| next() % 2 == 0).collect();
        // Up to three generations' worth, so cancels land while calls run and while they wait.
        let delay = Duration::from_micros(next() % (want.stats.total_ms * 3000.0) as u64 + 1);
        let cancelled_at = std::sync::Mutex::new(None);
        let results = std::thread::scope(|s| {
            let calls: Vec<_> = handles
                .iter()
                .map(|h| {
                    let (g, request) = (&g, &request);
                    let mut host = slow_host;
                    s.spawn(move || {
                        let r = g.generate(request, Some(h), &mut host).unwrap();
                        (r, Instant::now())
                    })
                })
                .collect();
            let start = Instant::now();
            while start.elapsed() < delay {
                std::hint::spin_loop();
            }
            *cancelled_at.lock().unwrap() = Some(Instant::now());
            for (h, &c) in handles.iter().zip(&chosen) {
                if c {
                    h.cancel();
                }
            }
            calls
                .into_iter()
                .map(|c| c.join().unwrap())
                .collect::<Vec<_>>()
        });
        let at = cancelled_at.lock().unwrap().unwrap();
        for ((r, returned), &c) in results.iter().zip(&chosen) {
            if r.stop_reason == StopReason::Cancelled {
                assert!(c, "a generation nobody cancelled was cancelled");
                cancelled += 1;
                latencies_us.push(returned.saturating_duration_since(at).as_secs_f64() * 1e6);
            } else {
                finished += 1;
                assert_eq!(r.tokens, want.tokens, "a generation in a busy pool changed");
            }
        }
    }
    let after = g.generate(&request, None, &mut |_| Flow::Continue).unwrap();
    assert_eq!(
        after.tokens, want.tokens,
        "the generator changed after the rounds"
    );
    latencies_us.sort_by(f64::total_cmp);
    let p = |q: f64| {
        latencies_us
            .get(((latencies_us.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    eprintln!(
        "saturated pool: {rounds} rounds x 3 generations on 1 session; {cancelled} cancelled, {finished} finished; cancel -> return: P50 {:.0} us, P99 {:.0} us, max {:.0} us",
        p(0.5),
        p(0.99),
        p(1.0)
    );
    assert!(
        cancelled >= rounds / 2,
        "too few cancels landed before their generation ended: {cancelled}"
    );
    assert!(p(0.99) < 50_000.0, "P99 cancel latency {:.0} us", p(0.99));
}

#[test]
fn inputs_far_beyond_the_limits() {
    let e = embedder();
    // 1 MB of text: truncated to the model's maximum length, embedded.
    let huge = "word ".repeat(200_000);
    let start = Instant::now();
    let v = e.embed(&[huge.as_str()]).unwrap();
    assert_eq!(v[0].len(), e.dimension());
    eprintln!(
        "limits: 1 MB text embedded (truncated to {} tokens) in {:?}",
        e.info().max_length,
        start.elapsed()
    );
    // 100,000 texts in one call: batched by the token budget, results in order.
    let many: Vec<String> = (0..100_000).map(|i| format!("note number {i}")).collect();
    let start = Instant::now();
    let vectors = e.embed(&many).unwrap();
    assert_eq!(vectors.len(), 100_000);
    assert_eq!(
        vectors[77_777],
        e.embed(&[many[77_777].as_str()]).unwrap()[0]
    );
    eprintln!("limits: 100,000-text batch in {:?}", start.elapsed());
    // 1 MB prompt: a clear context error, quickly.
    let g = generator();
    let start = Instant::now();
    let err = g
        .generate(&greedy(&huge, 4), None, &mut |_| Flow::Continue)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ContextOverflow);
    eprintln!(
        "limits: 1 MB prompt rejected ({err}) in {:?}",
        start.elapsed()
    );
    // Process-wide: meaningful when this test runs alone (`cargo test --test hardening inputs_far`).
    eprintln!("limits: peak RSS {:.0} MB", peak_rss_mb().unwrap_or(0.0));
}

#[test]
fn model_files_deleted_or_truncated_while_loaded() {
    init();
    let dir = ScratchModel::copy_of("embed-bert", "deleted");
    let e = Embedder::new(EmbedderOptions::new(&*dir)).unwrap();
    let before = e.embed(&TEXTS).unwrap();
    // ONNX Runtime holds the graph in memory: deleting the files changes nothing...
    std::fs::remove_dir_all(&*dir).unwrap();
    assert_eq!(e.embed(&TEXTS).unwrap(), before);
    // ...until a new session is needed (a second concurrent call): a clear error, no crash.
    let outcome = std::thread::scope(|s| {
        let a = s.spawn(|| (0..50).map(|_| e.embed(&TEXTS)).collect::<Vec<_>>());
        let b = s.spawn(|| (0..50).map(|_| e.embed(&TEXTS)).collect::<Vec<_>>());
        [a.join().unwrap(), b.join().unwrap()].concat()
    });
    for r in outcome {
        match r {
            Ok(v) => assert_eq!(v, before),
            Err(err) => assert!(
                matches!(
                    err.kind(),
                    ErrorKind::ModelNotFound | ErrorKind::ModelInvalid
                ),
                "{err}"
            ),
        }
    }

    let dir = ScratchModel::copy_of("gen-llama", "truncated");
    let g = Generator::new(GeneratorOptions::new(&*dir)).unwrap();
    let want = g
        .generate(&greedy("hi", 6), None, &mut |_| Flow::Continue)
        .unwrap()
        .tokens;
    let model = dir.join("onnx/model.onnx");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(
        g.generate(&greedy("hi", 6), None, &mut |_| Flow::Continue)
            .unwrap()
            .tokens,
        want
    );
    let err = Generator::new(GeneratorOptions::new(&*dir))
        .err()
        .expect("loading a truncated model must fail");
    assert_eq!(err.kind(), ErrorKind::ModelInvalid, "{err}");
}

#[test]
fn unreadable_files() {
    init();
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("*** SKIPPED unreadable_files: running as root, which reads any file regardless of permissions ***");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = ScratchModel::copy_of("embed-bert", "unreadable");
    std::fs::set_permissions(
        dir.join("tokenizer.json"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let err = Embedder::new(EmbedderOptions::new(&*dir)).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains("tokenizer.json"), "{err}");
}
