//! The "big server" part of `sandbar bench`: create+start timed while the runtime's own process
//! holds a large touched heap, beside the same with a fresh (small) process, in the same run
//! (docs/bench.md, "Start under a big server").
//!
//! A server that once grew keeps its pages; starting init by copying the server's address space
//! (fork semantics) costs time per page it holds. The heap is made of 64 KiB allocations (as a
//! server's heap is many small ones, in 4 KiB pages), every page written. Fresh and big rounds
//! alternate, so the machine's noise falls on both alike.

use super::bench::{ms, Summary};
use crate::args::BenchArgs;
use sandbar_runtime::{Runtime, SandboxId, SandboxSpec, DEFAULT_IMAGE};
use std::time::Instant;

/// Size of one allocation of the big heap.
const CHUNK: usize = 64 << 10;
/// Rounds of each kind, alternating.
const ROUNDS: usize = 4;

/// Times create+start (delete untimed) with a fresh process and with `args.heap_mib` MiB of
/// touched heap; prints both and their ratio.
pub fn measure(runtime: &Runtime, args: &BenchArgs) -> anyhow::Result<Vec<Summary>> {
    let per_round = args.iterations.div_ceil(ROUNDS).max(1);
    let spec = SandboxSpec::new(DEFAULT_IMAGE);
    let mut next = 0usize;
    let mut round = |samples: &mut Vec<f64>, warmup: usize| -> anyhow::Result<()> {
        for i in 0..warmup + per_round {
            next += 1;
            let id = SandboxId::new(format!("bench-heap-{next}"))?;
            let started = Instant::now();
            runtime.create(&id, &spec)?;
            runtime.start(&id)?;
            let elapsed = started.elapsed();
            runtime.delete(&id)?;
            if i >= warmup {
                samples.push(ms(elapsed));
            }
        }
        Ok(())
    };
    let (mut fresh, mut big) = (Vec::new(), Vec::new());
    let warmup = args.warmup.min(10);
    for _ in 0..ROUNDS {
        round(&mut fresh, warmup)?;
        let heap = touched_heap(args.heap_mib << 20);
        round(&mut big, warmup)?;
        drop(heap);
    }
    let fresh = Summary::of("create+start, fresh process", fresh);
    let big = Summary::of(&format!("create+start, {} MiB heap held", args.heap_mib), big);
    fresh.print();
    big.print();
    println!(
        "big heap / fresh: {:.2}x (p50), {:.2}x (p95), {:.2}x (p99)",
        big.p50 / fresh.p50,
        big.p95 / fresh.p95,
        big.p99 / fresh.p99
    );
    Ok(vec![fresh, big])
}

/// `bytes` of heap in [`CHUNK`]-sized allocations, every page written.
fn touched_heap(bytes: usize) -> Vec<Vec<u8>> {
    (0..bytes.div_ceil(CHUNK)).map(|_| vec![1u8; CHUNK]).collect()
}
