"""Stream 1,000,000 recommendation rows to each file format and report time and peak memory.

The writer consumes a generator, so peak traced memory must stay flat (a few MB), not grow
with the row count. Usage: python bench/file_delivery.py [--rows N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kaireon_mcp.core.file_delivery import FORMATS, write_records

COLUMNS = ["customerId", "rank", "offerId", "offerName", "score", "channelId", "recommendationId"]


def rows(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "customerId": f"C-{i // 3:07d}",
            "rank": i % 3 + 1,
            "offerId": f"off_{i % 10}",
            "offerName": f'Offer {i % 10}, "quoted"',
            "score": round((i % 997) / 997, 6),
            "channelId": "chn_email",
            "recommendationId": f"rec_{i // 3:09d}",
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"{'format':<16}{'rows':>10}{'seconds':>10}{'peak MB':>10}{'file MB':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in FORMATS:
            path = Path(tmp) / f"out.{fmt}"
            tracemalloc.start()
            started = time.perf_counter()
            written = write_records(
                path, fmt, COLUMNS, rows(args.rows), {"widths": [10, 2, 8, 24, 10, 10, 14]}
            )
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            print(f"{fmt:<16}{written:>10}{elapsed:>10.2f}{peak:>10.1f}{path.stat().st_size / 1e6:>10.1f}")
            path.unlink()


if __name__ == "__main__":
    main()
