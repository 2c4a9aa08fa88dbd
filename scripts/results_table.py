#!/usr/bin/env python3
"""The tables and ordering checks of docs/results.md, from results/<suite>/<method>/seed<k>/results.json.

  scripts/results_table.py --results results                 # markdown on stdout
  scripts/results_table.py --results results --summaries     # also results/<suite>/summary.json
  scripts/results_table.py --results results --report-run runs/results-report/core5 --suite core5 --seed 0
      # a run folder (config.json, summary.json, <method>/results.json) of one seed, for `retain report`

Per method and suite, mean ± sample standard deviation over the seeds present of: AA, BWT, FWT and
forgetting (results.json "metrics"), the lowest routing accuracy of any stage (each stage's mean over
the tasks seen; routing methods only) and the general-text LM loss change (the last "general_loss"
minus the first, nats per token). The six orderings of issue 15 are judged on core5.
"""
import argparse
import glob
import json
import math
import os
import shutil
import statistics
import sys

ORACLES = {"pertask"}
ORDER = ["asr", "seta", "osft", "seqft", "seqlora", "inclora", "olora", "inflora", "ewc", "lwf", "replay", "mtl",
         "pertask"]


def fail(msg):
    sys.exit(f"results_table.py: {msg}")


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        fail(f"{path}: not JSON ({e})")


def load_runs(root):
    """{suite: {method: {seed: results}}} from root/<suite>/<method>/seed<k>/results.json."""
    runs = {}
    if not os.path.isdir(root):
        fail(f"{root}: no such folder (expected <suite>/<method>/seed<k>/results.json under it)")
    for suite in sorted(os.listdir(root)):
        sdir = os.path.join(root, suite)
        if not os.path.isdir(sdir) or suite in ("base-models", "probes"):
            continue
        for method in sorted(os.listdir(sdir)):
            mdir = os.path.join(sdir, method)
            if not os.path.isdir(mdir):
                continue
            for seed_dir in sorted(os.listdir(mdir)):
                path = os.path.join(mdir, seed_dir, "results.json")
                if not seed_dir.startswith("seed") or not os.path.isfile(path):
                    continue
                r = read_json(path)
                if r.get("method") != method:
                    fail(f"{path}: \"method\" is {r.get('method')!r}, expected {method!r} (its folder)")
                runs.setdefault(suite, {}).setdefault(method, {})[int(seed_dir[4:])] = r
    return runs


def partial_table(root):
    """Runs cut before their last task: root/<suite>/<method>/seed<k>/progress.json (no results.json),
    with what the rows scored so far show: tasks done, the mean accuracy over those tasks in the last
    row, and the mean change of the earlier ones since just after their training."""
    lines = []
    for path in sorted(glob.glob(os.path.join(root, "*", "*", "seed*", "progress.json"))):
        if os.path.exists(os.path.join(os.path.dirname(path), "results.json")):
            continue
        p = read_json(path)
        done, m = p.get("tasks_done"), p.get("matrix")
        if not isinstance(done, int) or not isinstance(m, list) or len(m) != done + 1:
            fail(f"{path}: expected \"tasks_done\" k and k + 1 \"matrix\" rows")
        suite, method, seed = path.split(os.sep)[-4:-1]
        tasks = len(p.get("tasks", []))
        last = m[done]
        aa = sum(last[:done]) / done * 100 if done else float("nan")
        bwt = (sum(last[i] - m[i + 1][i] for i in range(done - 1)) / (done - 1) * 100) if done > 1 else float("nan")
        lines.append(f"| {suite} | {method} | {seed} | {done} / {tasks} | {aa:.1f} | {bwt:.1f} |")
    if not lines:
        return "no cut runs (progress.json without results.json)"
    head = "| suite | method | seed | tasks done | accuracy so far (mean of tasks done) | BWT so far |\n|---|---|---|---|---|---|"
    return head + "\n" + "\n".join(lines)


def routing_min(r):
    ra = r.get("routing_accuracy")
    if not ra:
        return None
    stages = []
    for row in ra:
        seen = [x for x in row if x is not None]
        if seen:
            stages.append(sum(seen) / len(seen))
    return min(stages) if stages else None


def general_change(r):
    g = r.get("general_loss") or []
    if len(g) < 2 or g[0] is None or g[-1] is None:
        return None
    return g[-1] - g[0]


def values(r):
    m = r["metrics"]
    return {"AA": m.get("AA"), "BWT": m.get("BWT"), "FWT": m.get("FWT"), "forgetting": m.get("forgetting"),
            "routing_min": routing_min(r), "general_change": general_change(r)}


def mean_sd(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return None, None
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def summarize(by_seed):
    seeds = sorted(by_seed)
    per = [values(by_seed[s]) for s in seeds]
    out = {"seeds": seeds}
    for key in per[0]:
        m, sd = mean_sd([p[key] for p in per])
        out[key] = {"mean": m, "sd": sd, "per_seed": [p[key] for p in per]}
    first = by_seed[seeds[0]]
    sweep = first.get("sweep")
    out["lr"] = first["config"]["optim"]["lr"]
    if sweep:
        out["sweep"] = {"values": sweep["values"], "dev_aa": sweep["dev_aa"], "chosen": sweep["chosen"]}
    out["oracle"] = bool(first["config"].get("oracle", False)) or first["method"] in ORACLES
    out["seconds"] = [by_seed[s].get("seconds") for s in seeds]
    return out


def fmt(stat, points=True, digits=1):
    m, sd = stat["mean"], stat["sd"]
    if m is None:
        return "—"
    scale = 100 if points else 1
    if len(stat["per_seed"]) > 1:
        return f"{m * scale:.{digits}f} ± {sd * scale:.{digits}f}"
    return f"{m * scale:.{digits}f}"


def table(suite, summaries):
    methods = [m for m in ORDER if m in summaries] + sorted(set(summaries) - set(ORDER))
    seeds = sorted({s for m in methods for s in summaries[m]["seeds"]})
    lines = [f"**{suite}** (seeds {', '.join(map(str, seeds))}; points, mean ± sd over seeds)", "",
             "| method | lr | AA | BWT | FWT | forgetting | routing (min stage) | LM loss Δ |",
             "|---|---|---|---|---|---|---|---|"]
    for m in methods:
        s = summaries[m]
        name = m + (" (oracle)" if s["oracle"] else "")
        lr = s["sweep"]["chosen"] if "sweep" in s else f"{s['lr']:g}"
        lines.append(f"| {name} | {lr} | {fmt(s['AA'])} | {fmt(s['BWT'])} | {fmt(s['FWT'])} | {fmt(s['forgetting'])} | "
                     f"{fmt(s['routing_min'])} | {fmt(s['general_change'], points=False, digits=3)} |")
    return "\n".join(lines)


def sweep_table(summaries):
    lines = ["| method | values | dev AA per value | chosen |", "|---|---|---|---|"]
    for m in [m for m in ORDER if m in summaries]:
        sw = summaries[m].get("sweep")
        if sw:
            lines.append(f"| {m} | {', '.join(sw['values'])} | {', '.join(f'{x:.3f}' for x in sw['dev_aa'])} | "
                         f"{sw['chosen']} |")
    return "\n".join(lines)


def judge(s):
    """The orderings of issue 15 on one suite's summaries: [(claim, holds or None, evidence)]."""
    def get(m, key):
        return s[m][key]["mean"] if m in s and s[m][key]["mean"] is not None else None

    def sd(m, key):
        return s[m][key]["sd"] if m in s else None

    def pts(x):
        return "—" if x is None else f"{100 * x:.1f}"

    out = []
    non_oracle = [m for m in s if not s[m]["oracle"]]
    if "mtl" in s and len(non_oracle) > 1:
        best = max((m for m in non_oracle if m != "mtl"), key=lambda m: get(m, "AA") or -1)
        slack = max(sd("mtl", "AA"), sd(best, "AA"))
        holds = get("mtl", "AA") >= get(best, "AA") - slack
        out.append(("1. mtl has the highest AA of the non-oracle methods (within one sd)", holds,
                    f"mtl {pts(get('mtl', 'AA'))} ± {pts(sd('mtl', 'AA'))}; best other: {best} "
                    f"{pts(get(best, 'AA'))} ± {pts(sd(best, 'AA'))}"))
    if "asr" in s:
        bwt = get("asr", "BWT")
        rmin = min((x for x in s["asr"]["routing_min"]["per_seed"] if x is not None), default=None)
        parts = [bwt is not None and bwt >= -0.01, rmin is not None and rmin >= 0.95]
        ev = f"BWT {pts(bwt)} (≥ −1.0); lowest stage routing accuracy over seeds {pts(rmin)} (≥ 95.0)"
        if "pertask" in s:
            gap = get("pertask", "AA") - get("asr", "AA")
            parts.append(gap <= 0.03)
            ev += f"; AA {pts(get('asr', 'AA'))} vs pertask {pts(get('pertask', 'AA'))} (gap {pts(gap)}, ≤ 3.0)"
        out.append(("2. asr: BWT ≥ −0.01, routing ≥ 0.95 at every stage, AA within 3 points of pertask", all(parts),
                    ev))
    if all(m in s for m in ("osft", "olora", "inclora", "seqft")):
        a = {m: get(m, "AA") for m in ("osft", "olora", "inclora", "seqft")}
        dbwt = get("osft", "BWT") - get("seqft", "BWT")
        parts = [a["osft"] > a["olora"], a["olora"] >= a["inclora"], a["inclora"] > a["seqft"], dbwt >= 0.10]
        out.append(("3. osft AA > olora ≥ inclora > seqft; osft BWT ≥ seqft + 10 points", all(parts),
                    f"AA osft {pts(a['osft'])}, olora {pts(a['olora'])}, inclora {pts(a['inclora'])}, seqft "
                    f"{pts(a['seqft'])}; BWT osft − seqft {pts(dbwt)} (each part: "
                    f"{', '.join('holds' if p else 'fails' for p in parts)})"))
    if all(m in s for m in ("seta", "seqlora", "olora")):
        p1 = get("seta", "BWT") > get("seqlora", "BWT")
        p2 = get("seta", "AA") >= get("olora", "AA")
        out.append(("4. seta: BWT above seqlora, AA ≥ olora", p1 and p2,
                    f"BWT seta {pts(get('seta', 'BWT'))} vs seqlora {pts(get('seqlora', 'BWT'))}; AA seta "
                    f"{pts(get('seta', 'AA'))} vs olora {pts(get('olora', 'AA'))}"))
    if "seqft" in s:
        rows = [m for m in ("replay", "ewc", "lwf") if m in s]
        if rows:
            holds = all(get(m, "AA") > get("seqft", "AA") for m in rows)
            out.append(("5. replay, ewc and lwf above seqft on AA", holds,
                        "; ".join(f"{m} {pts(get(m, 'AA'))}" for m in rows) + f"; seqft {pts(get('seqft', 'AA'))}"))
    if all(m in s for m in ("osft", "asr", "seqft")):
        g = {m: get(m, "general_change") for m in ("osft", "asr", "seqft")}
        if None not in g.values():
            holds = g["osft"] < g["seqft"] and g["asr"] < g["seqft"]
            out.append(("6. osft and asr lose less held-out LM loss than seqft", holds,
                        f"Δ loss osft {g['osft']:+.3f}, asr {g['asr']:+.3f}, seqft {g['seqft']:+.3f} nats/token"))
    return out


def probes_table(root):
    """The probes (results.sh probe: core5 seed-0 variants of one method) next to their method's seed-0 run."""
    pdir = os.path.join(root, "probes")
    if not os.path.isdir(pdir):
        return ""
    lines = ["| probe | method | lr | settings | AA | BWT | forgetting | diagonal − row 0 (mean) | LM loss Δ |",
             "|---|---|---|---|---|---|---|---|---|"]
    rows = []
    for name in sorted(os.listdir(pdir)):
        path = os.path.join(pdir, name, "seed0", "results.json")
        if os.path.isfile(path):
            rows.append((name, read_json(path)))
    base = load_runs(root).get("core5", {})
    for m in sorted({r["method"] for _, r in rows}):
        if 0 in base.get(m, {}):
            rows.append((f"{m} (table)", base[m][0]))
    for name, r in sorted(rows, key=lambda x: (x[1]["method"], x[0])):
        cfg = r["config"]
        mcfg = cfg.get("method", {}).get(r["method"], {}) if isinstance(cfg.get("method"), dict) else {}
        sets = ", ".join(f"{k}={mcfg[k]}" for k in ("rank_rule", "ratio", "non_target", "feature_layers") if k in mcfg) or "defaults"
        a = r["matrix"]
        gain = sum(a[i + 1][i] - a[0][i] for i in range(len(a) - 1)) / (len(a) - 1)
        v = values(r)
        lines.append(f"| {name} | {r['method']} | {cfg['optim']['lr']:g} | {sets} | {100 * v['AA']:.1f} | "
                     f"{100 * v['BWT']:.1f} | {100 * v['forgetting']:.1f} | {100 * gain:.1f} | "
                     f"{v['general_change']:.3f} |")
    return "\n".join(lines)


def write_json_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def report_run(results, suite, seed, out):
    """A run folder of one suite and seed that `retain report` reads."""
    by_method = {m: seeds[seed] for m, seeds in results[suite].items() if seed in seeds}
    if not by_method:
        fail(f"no {suite} seed {seed} results")
    methods = [m for m in ORDER if m in by_method] + sorted(set(by_method) - set(ORDER))
    os.makedirs(out, exist_ok=True)
    config = read_json(os.path.join(args.results, suite, methods[0], f"seed{seed}", "run-config.json"))
    config["methods"] = methods
    write_json_atomic(os.path.join(out, "config.json"), config)
    summary = {"methods": {}}
    for m in methods:
        os.makedirs(os.path.join(out, m), exist_ok=True)
        shutil.copyfile(os.path.join(args.results, suite, m, f"seed{seed}", "results.json"),
                        os.path.join(out, m, "results.json"))
        met = by_method[m]["metrics"]
        summary["methods"][m] = {k: met.get(k) for k in ("AA", "BWT", "FWT", "forgetting")}
    write_json_atomic(os.path.join(out, "summary.json"), summary)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", required=True)
    ap.add_argument("--summaries", action="store_true", help="write <results>/<suite>/summary.json")
    ap.add_argument("--report-run", help="write a run folder of --suite/--seed for `retain report`")
    ap.add_argument("--probes", action="store_true", help="print the probes table (results/probes)")
    ap.add_argument("--partial", action="store_true", help="print the runs cut before their last task (progress.json)")
    ap.add_argument("--suite", default="core5")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.probes:
        print(probes_table(args.results))
        sys.exit(0)
    if args.partial:
        print(partial_table(args.results))
        sys.exit(0)
    results = load_runs(args.results)
    if not results:
        fail(f"no results under {args.results}/<suite>/<method>/seed<k>/results.json")
    if args.report_run:
        report_run(results, args.suite, args.seed, args.report_run)
    for suite in sorted(results, key=lambda x: {"core5": 0, "long15": 1, "gen4": 2}.get(x, 3)):
        summaries = {m: summarize(by_seed) for m, by_seed in results[suite].items()}
        if args.summaries:
            write_json_atomic(os.path.join(args.results, suite, "summary.json"), {"suite": suite, "methods": summaries})
        print(table(suite, summaries), end="\n\n")
        if any("sweep" in s for s in summaries.values()):
            print(sweep_table(summaries), end="\n\n")
        for claim, holds, ev in judge(summaries):
            print(f"- {claim}: **{'holds' if holds else 'does not hold'}** — {ev}")
        print()
