"""Smoke test of bench/concurrent_callers.py: its main path at tiny sizes against the fake
server, so the bench cannot rot; it checks what was counted, never how fast."""

from __future__ import annotations

from bench import concurrent_callers


def row(output: str, label: str) -> list[str]:
    """The cells of the one table row whose label column reads `label`."""
    rows = [line.split("  ") for line in output.splitlines()]
    found = [[cell.strip() for cell in cells if cell.strip()] for cells in rows
             if label in (cell.strip() for cell in cells)]
    assert len(found) == 1, (label, output)
    return found[0]


def test_the_bench_runs_and_counts_every_part(capsys):
    concurrent_callers.main(["--latency-ms", "5", "--callers", "6", "--rounds", "1",
                             "--rates", "100", "--seconds", "0.1", "--lone-runs", "2",
                             "--threads", "3", "--thread-runs", "2", "--chunks", "12"])
    output = capsys.readouterr().out
    # 1. six concurrent arun: one embedding request, as one arun_many of six
    for mode in ("gather of arun", "arun_many"):
        questions, _, _, _, embed, chat, _ = row(output, mode)
        assert (questions, embed, chat) == ("6", "1", "6"), output
    # 2. ten Poisson arrivals at 100 runs/s: every run answered and its requests counted
    _, runs, embed_per_run, chat_per_run, *latencies = row(output, "100")
    assert runs == "10" and 0 < float(embed_per_run) <= 1 and chat_per_run == "1.00", output
    assert len(latencies) == 4, output
    # 3. sync run() from three threads, two questions each, against one thread
    _, runs, _, _, embed, _, _, _ = row(output, "1 thread")
    assert (runs, embed) == ("2", "2"), output
    _, runs, _, _, embed, _, chat_per_run, _ = row(output, "3 threads")
    assert runs == "6" and 1 <= int(embed) <= 6 and chat_per_run == "1.00", output
