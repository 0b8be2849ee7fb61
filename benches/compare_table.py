#!/usr/bin/env python3
"""Turns the raw figures of benches/compare.sh into tables and target checks.

Input lines: `<server> <round> RESULT scenario=S metric=M value=V unit=U`
(server: ours, theirs or local; round: a number or `heavy`) and
`<server> <round> NOTE scenario=S text...`.
"""
import argparse
import statistics
from collections import OrderedDict


def parse(path):
    figures = OrderedDict()  # (scenario, metric) -> {"unit": u, server: [values]}
    notes = OrderedDict()
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4:
                continue
            server, rnd, kind = parts[0], parts[1], parts[2]
            fields = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
            scenario = fields.get("scenario", "?")
            if rnd == "heavy":
                scenario = "heavy-" + scenario
            if kind == "NOTE":
                text = " ".join(p for p in parts[3:] if not p.startswith("scenario="))
                notes[(server, scenario, text)] = None
                continue
            key = (scenario, fields["metric"])
            entry = figures.setdefault(key, {"unit": fields.get("unit", ""), "rounds": {}})
            value = float(fields["value"])
            entry.setdefault(server, []).append(value)
            entry["rounds"].setdefault(rnd, {})[server] = value
    return figures, notes


def round_ratios(figures, a, b):
    """Per-round ratios a/b; a and b are (scenario, metric, server)."""
    ea, eb = figures.get(a[:2], {}), figures.get(b[:2], {})
    out = []
    for rnd, va in ea.get("rounds", {}).items():
        x = va.get(a[2])
        y = eb.get("rounds", {}).get(rnd, {}).get(b[2])
        if x is not None and y:
            out.append(x / y)
    return out


def fmt(v):
    if v is None:
        return "–"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def cell(values):
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}–{fmt(max(values))})"


def median(figures, scenario, metric, server):
    values = figures.get((scenario, metric), {}).get(server)
    return statistics.median(values) if values else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--note", action="append", default=[])
    args = ap.parse_args()
    figures, notes = parse(args.results)

    print()
    for n in args.note:
        print(f"- {n}")
    print()
    print("Each cell: median over rounds (min–max). ours/theirs: the median of the")
    print("per-round ratios (min–max); both servers ran in the same round, alternately.")
    print()
    print("| scenario | metric | unit | harbor-rs (ours) | distribution (theirs) | ours/theirs |")
    print("|---|---|---|---|---|---|")
    for (scenario, metric), e in figures.items():
        if "ours" not in e and "theirs" not in e:
            continue
        r = round_ratios(figures, (scenario, metric, "ours"), (scenario, metric, "theirs"))
        print(f"| {scenario} | {metric} | {e['unit']} | {cell(e.get('ours'))} | "
              f"{cell(e.get('theirs'))} | {cell(r)} |")
    local = [(k, e) for k, e in figures.items() if "local" in e]
    if local:
        print()
        print("| machine limit | metric | unit | median (min–max) |")
        print("|---|---|---|---|")
        for (scenario, metric), e in local:
            print(f"| {scenario} | {metric} | {e['unit']} | {cell(e['local'])} |")
    if notes:
        print()
        for server, scenario, text in notes:
            print(f"- note ({server}, {scenario}): {text}")

    # The targets, from per-round ratios (each round's figures were
    # taken minutes apart, under the same load).
    m = lambda s, k, w="ours": median(figures, s, k, w)  # noqa: E731
    rows = []

    def rr(a, b):
        return round_ratios(figures, a, b) or None

    def target(name, values, goal, ok):
        if isinstance(values, (int, float)):
            values = [values]
        if not values:
            rows.append((name, goal, "–", "n/a"))
            return
        v = statistics.median(values)
        rows.append((name, goal, cell(values), "MET" if ok(v) else "NOT MET"))

    for mode in ("push-mono", "push-chunked"):
        target(f"{mode} throughput, ours/theirs",
               rr((mode, "mbps", "ours"), (mode, "mbps", "theirs")), "≥ 1.5", lambda v: v >= 1.5)
        target(f"{mode} server CPU s/GiB, ours/theirs",
               rr((mode, "server_cpu_s_per_gib", "ours"), (mode, "server_cpu_s_per_gib", "theirs")),
               "≤ 0.5", lambda v: v <= 0.5)
    target("pull throughput (client not hashing) / loopback TCP (ours)",
           rr(("pull-noverify", "mbps", "ours"), ("tcp", "mbps", "local")), "≥ 0.95", lambda v: v >= 0.95)
    target("pull throughput (client checking sha256) / loopback TCP, reader hashing (ours)",
           rr(("pull", "mbps", "ours"), ("tcp", "mbps_sha256", "local")), "≥ 0.95", lambda v: v >= 0.95)
    for mode in ("pull", "pull-noverify"):
        target(f"{mode} server CPU s/GiB, ours/theirs",
               rr((mode, "server_cpu_s_per_gib", "ours"), (mode, "server_cpu_s_per_gib", "theirs")),
               "≤ 0.7", lambda v: v <= 0.7)
    target("manifest HEAD/GET req/s, ours/theirs",
           rr(("manifest", "rps", "ours"), ("manifest", "rps", "theirs")), "≥ 3", lambda v: v >= 3)
    target("manifest p99 (ours), ms", figures.get(("manifest", "p99_ms"), {}).get("ours"),
           "≤ 5", lambda v: v <= 5)
    target("concentrated / spread pulls (ours)",
           figures.get(("spread", "concentrated_over_spread"), {}).get("ours"),
           "0.9–1.1", lambda v: abs(v - 1) <= 0.1)
    # The target: tokens/s at least half of ring's raw ES256 signing
    # rate on one core.
    target("token issuance / raw ES256 signing on one core (ours)",
           rr(("token", "tokens_per_s", "ours"), ("sign", "signs_per_s_1thread", "local")), "≥ 0.5", lambda v: v >= 0.5)
    target("peak RSS, 8 x 1 GiB uploads in flight (ours), MiB",
           figures.get(("heavy-push-mono", "server_peak_rss_mib"), {}).get("ours"), "≤ 64", lambda v: v <= 64)
    target("peak RSS, 32 clients pulling 1 GiB (ours), MiB",
           figures.get(("heavy-pull-noverify", "server_peak_rss_mib"), {}).get("ours"), "≤ 64", lambda v: v <= 64)
    target("start to first /v2/ answer, existing data dir (ours), ms",
           figures.get(("startup", "first_answer_ms"), {}).get("ours"), "≤ 50", lambda v: v <= 50)
    print()
    print("| target | goal | measured | status |")
    print("|---|---|---|---|")
    for name, goal, value, status in rows:
        print(f"| {name} | {goal} | {value} | {status} |")


if __name__ == "__main__":
    main()
