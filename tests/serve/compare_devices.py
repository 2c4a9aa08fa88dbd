#!/usr/bin/env python3
"""The same requests to `retain serve` on two devices (CPU and CUDA): greedy texts and routes must agree.

    compare_devices.py RETAIN MODEL CHECKPOINT [--devices cpu,cuda]

Starts one server per device (port 0), sends greedy completions for every prompt with model ids
auto, base and each task, then all of them at once (a mixed batch), and compares each answer across
devices and with its solo answer. Any checkpoint `retain serve` takes (asr, seta, inclora, ...); with
one device (--devices cpu) only the mixed batch is checked against the solo answers. Standard library
only (the GPU machine has no npm client). Prints a JSON summary; exit 1 on a mismatch.
"""
import concurrent.futures, json, re, subprocess, sys, time, urllib.request

PROMPTS = ["Repeat: green", "Repeat: the package provides", "This film is", "The acting was"]


def start(retain, model, ckpt, device):
    p = subprocess.Popen([retain, "serve", "--model", model, "--checkpoint", ckpt, "--port", "0", "--device", device,
                          "--max-batch", "16"], stderr=subprocess.PIPE, text=True)
    port = None
    while port is None:
        line = p.stderr.readline()
        if not line:
            sys.exit(f"retain serve --device {device} exited")
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if urllib.request.urlopen(base + "/health").status == 200:
                break
        except Exception:
            time.sleep(0.1)
    return p, base


def post(base, body):
    req = urllib.request.Request(base + "/v1/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))


def main():
    retain, model, ckpt = sys.argv[1:4]
    devices = sys.argv[sys.argv.index("--devices") + 1].split(",") if "--devices" in sys.argv else ["cpu", "cuda"]
    answers = {}
    for device in devices:
        proc, base = start(retain, model, ckpt, device)
        ids = [m["id"] for m in json.load(urllib.request.urlopen(base + "/v1/models"))["data"]]
        jobs = [(p, m) for p in PROMPTS for m in ids]
        solo = {}
        for p, m in jobs:
            c = post(base, {"model": m, "prompt": p, "max_tokens": 12, "temperature": 0})["choices"][0]
            solo[(p, m)] = (c["text"], c["retain"]["route"])
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            mixed = list(pool.map(lambda j: post(base, {"model": j[1], "prompt": j[0], "max_tokens": 12, "temperature": 0}), jobs))
        mixed_ok = all((r["choices"][0]["text"], r["choices"][0]["retain"]["route"]) == solo[j] for j, r in zip(jobs, mixed))
        start_t = time.time()
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda i: post(base, {"model": "auto", "prompt": PROMPTS[i % 4], "max_tokens": 12, "temperature": 0}), range(128)))
        answers[device] = {"solo": solo, "mixed_equals_solo": mixed_ok, "load_128_requests_s": round(time.time() - start_t, 3)}
        proc.terminate()
        proc.wait(timeout=60)
        print(f"{device}: mixed batch equals solo: {mixed_ok}; 128 requests at concurrency 32 in "
              f"{answers[device]['load_128_requests_s']} s; exit {proc.returncode}", flush=True)
    a = answers[devices[0]]["solo"]
    differ = []
    for d in devices[1:]:
        b = answers[d]["solo"]
        differ += [f"{k} on {devices[0]}: {a[k]}, on {d}: {b.get(k)}" for k in a if a[k] != b.get(k)]
    routes = sorted({route for _, route in a.values()})
    print(json.dumps({"checkpoint": ckpt, "devices": devices, "requests": len(a), "routes": routes, "differ": differ,
                      "mixed_equals_solo": {d: answers[d]["mixed_equals_solo"] for d in devices}}, indent=1))
    ok = not differ and all(answers[d]["mixed_equals_solo"] for d in devices)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
