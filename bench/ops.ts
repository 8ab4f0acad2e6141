// Per-op dispatch time in graft against PyTorch from /usr/bin/python3: the dispatch rows of
// `npm run bench` (bench/all.ts), each side in its own process, taking turns, load measured.
// Cases: bench/_ops_cases.ts (graft) and bench/ops_torch.py (PyTorch).
// Usage: npm run bench:ops [-- --quick]   (GRAFT_BENCH_THREADS=2 by default)
if (!process.argv.some((a) => a.startsWith('--only='))) process.argv.push('--only=ops');
await import('./all.ts');
