"""`benthos cost examples`: the lecture's worked cost examples, recomputed from real layers."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cost", help="the lecture's cost arithmetic")
    csub = p.add_subparsers(dest="cost_command", metavar="ACTION", required=True)
    ex = csub.add_parser("examples", help="1x1 bottlenecks, factorised and depthwise-separable convs, FC vs GAP")
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(func=_examples)


def _examples(args: argparse.Namespace) -> int:
    from benthos.cost.examples import lecture_examples

    examples = lecture_examples()
    if args.json:
        print(json.dumps([e.to_dict() for e in examples], indent=2))
        return 0
    for e in examples:
        print(e.title)
        print(f"  {e.baseline:<45s} {e.baseline_macs / 1e6:9.2f}M multiply-adds  {e.baseline_params:>11,} weights")
        print(f"  {e.alternative:<45s} {e.alternative_macs / 1e6:9.2f}M multiply-adds  {e.alternative_params:>11,} weights")
        print(f"  saving {e.saving:.1%}: {e.lesson}\n")
    return 0
