#!/usr/bin/env python
"""Benchmarks of the Flex hot paths against the bare ``cryptography`` operation.

Run from a checkout: ``python scripts/bench_flex.py [--rounds N]``. Each measurement and its
baseline are interleaved (several short batches, alternating), and the best batch of each
is compared, so a noisy neighbour affects both sides alike. Both sides cycle over 64
distinct capture contexts signed by one key, so nothing token-specific can be memoised.

Targets (guard rails, DESIGN.md):
* capture-context verification with a cached key <= 3x a bare RSA-2048 PKCS#1 v1.5 verify;
* JWE encryption of a card payload <= 2x a bare RSA-OAEP-256 encrypt + AES-256-GCM of the
  same plaintext.

``scripts/bench`` measures these and the other figures of issue 7 in one run.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import FlexFixture, batch_stats, compared, format_figure, interleave

NUMBER = 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    fixture = FlexFixture()
    statistic = f"best of {args.rounds} interleaved batches of {NUMBER} calls"
    print(f"python {sys.version.split()[0]}, {statistic}")
    ok = True
    for key, label, pair, reference_label, target in (
        ("verify_cached", "capture-context verify (cached key)", fixture.verify_pair(), "bare RSA verify", 3.0),
        ("jwe_encrypt", "JWE encrypt card payload (RSA-OAEP-256+GCM)", fixture.jwe_pair(), "bare OAEP+GCM", 2.0),
    ):
        ours, bare = interleave(pair, args.rounds, NUMBER)
        figure = compared(
            key, label, min(ours), min(bare), unit="s", reference_label=reference_label, statistic="best batch",
            target=target, details={"ours": batch_stats(ours), "reference": batch_stats(bare)},
        )
        print(format_figure(figure))
        ok &= figure.status == "OK"
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
