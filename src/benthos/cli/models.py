"""`benthos models list|info|compare`: the zoo and its costs."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="the classifier zoo: list, per-layer cost, side-by-side comparison")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    ls = msub.add_parser("list", help="table of every registered architecture")
    ls.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'resnet*'")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("--no-cost", action="store_true", help="leave out the params/MACs columns")
    ls.set_defaults(func=_list)

    info = msub.add_parser("info", help="model card and per-layer table (output shape, params, multiply-adds)")
    info.add_argument("name")
    info.add_argument("--input-size", type=int, help="square input side in px (default: the model's native size)")
    info.add_argument("--num-classes", type=int, help="classes of the head (default: the reference head)")
    info.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                      help="architecture option from the card, e.g. block_design=full_preact (repeatable)")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=_info)

    cmp_ = msub.add_parser("compare", help="params, MACs and measured CPU latency side by side")
    cmp_.add_argument("names", nargs="+")
    cmp_.add_argument("--input-size", type=int)
    cmp_.add_argument("--batch", type=int, default=1)
    cmp_.add_argument("--repeats", type=int, default=5)
    cmp_.add_argument("--json", action="store_true")
    cmp_.set_defaults(func=_compare)


def _options(pairs: list[str]) -> dict:
    from benthos.errors import BenthosError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise BenthosError(f"--option expects KEY=VALUE, got '{pair}'")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value  # a bare string such as full_preact
    return out


def _human(n: float, unit: str = "") -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suffix}{unit}"
    return f"{n:.0f}{unit}"


def _print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in columns))


def _list(args: argparse.Namespace) -> int:
    import sys

    from benthos.cost.stored import model_costs
    from benthos.errors import BenthosError
    from benthos.models import list_models, model_card

    names = list_models(args.pattern)
    if not names:
        raise BenthosError(f"no model matches '{args.pattern}'; try `benthos models list` without a pattern")
    # stored figures (native size, reference head); a model not yet stored is counted now, said on stderr
    costs = {} if args.no_cost else model_costs(names, progress=lambda line: print(line, file=sys.stderr, flush=True))
    rows = []
    for n in names:
        c = model_card(n)
        row = {"name": n, "family": c.family, "year": c.year, "input": c.input_size, "source": c.source,
               "weights": ",".join(k + (" (offline)" if v.kind == "package" else "") for k, v in c.weights.items()) or "-"}
        if n in costs:
            row.update(params=costs[n]["params"], macs=costs[n]["macs"])
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        if "params" in r:
            r["params"], r["macs"] = _human(r["params"]), _human(r["macs"])
    _print_table(rows, [k for k in rows[0]])
    return 0


def _info(args: argparse.Namespace) -> int:
    from benthos.cost import profile_model
    from benthos.models import model_card

    card = model_card(args.name)
    options = _options(args.option)
    cost = profile_model(args.name, input_size=args.input_size, num_classes=args.num_classes, **options)
    # the papers' figures are for one configuration: native input, reference head, default options
    reference = not options and cost.input_size == card.input_size and cost.num_classes == card.num_classes
    out = {"name": card.name, "params": cost.params, "macs": cost.macs, "input_size": cost.input_size,
           "num_classes": cost.num_classes, "options": options,
           "published": {"params": int(card.params_m * 1e6) if card.params_m else None,
                         "macs": int(card.macs_g * 1e9) if card.macs_g else None,
                         "source": card.figure_source} if reference else None,
           "card": card.to_dict()}
    if args.json:
        out["layers"] = [l.__dict__ for l in cost.layers]
        print(json.dumps(out, indent=2))
        return 0
    print(f"{card.name} — {card.family}, {card.paper} ({card.year})")
    print(f"introduced: {card.introduced}")
    print(f"source: {card.source}; pretrained weights: {', '.join(card.weights) or 'none'}")
    if card.options:
        print("options: " + "; ".join(f"{k} = {v}" for k, v in card.options.items()))
    print()
    rows = [{"layer": l.name, "type": l.type, "output": "x".join(map(str, l.output_shape)),
             "params": f"{l.params:,}", "MACs": f"{l.macs:,}"} for l in cost.layers if l.params or l.macs]
    _print_table(rows, ["layer", "type", "output", "params", "MACs"])
    print()
    print(f"total at {cost.input_size}x{cost.input_size}, {cost.num_classes} classes: "
          f"{cost.params:,} params ({_human(cost.params)}), {cost.macs:,} multiply-adds ({_human(cost.macs)})")
    pub = out["published"]
    if pub and (pub["params"] or pub["macs"]):
        bits = [f"{_human(pub['params'])} params" if pub["params"] else "", f"{_human(pub['macs'])} MACs" if pub["macs"] else ""]
        print(f"published: {', '.join(b for b in bits if b)} — {card.figure_source}")
    elif not reference and (card.params_m or card.macs_g):
        print(f"(the published figures are for {card.input_size} px, {card.num_classes} classes and the default "
              "options; this configuration differs, so none is shown)")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from benthos.cost import profile_model
    from benthos.cost.profile import measure_latency
    from benthos.models import create_model, model_card

    rows = []
    for n in args.names:
        card = model_card(n)
        size = args.input_size or card.input_size
        cost = profile_model(n, input_size=size)
        model = create_model(n)
        lat = measure_latency(model, (card.in_chans, size, size), batch=args.batch, repeats=args.repeats)
        rows.append({"name": n, "input": size, "params": cost.params, "macs": cost.macs,
                     "latency_ms": round(lat * 1000, 1), "images_per_s": round(args.batch / lat, 1)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    import torch

    for r in rows:
        r["params"], r["macs"] = _human(r["params"]), _human(r["macs"])
    _print_table(rows, list(rows[0]))
    print(f"\nCPU latency: median of {args.repeats} runs, batch {args.batch}, {torch.get_num_threads()} threads, channels-last")
    return 0
