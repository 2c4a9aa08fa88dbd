// `retain serve` end to end: the real build/retain on loopback, driven by the official `openai` npm
// client (scripts/fetch-openai-client.sh; maxRetries 0), with models/retain-tiny and asr, seta, inclora
// and seqlora checkpoints trained here on two fixture tasks. Run by CTest (tests/serve/CMakeLists.txt):
//   RETAIN=build/retain SOURCE_DIR=. OPENAI_DIR=CACHE/openai-6.30.1 WORK=dir node serve_openai.test.mjs
// Every check is an equality with an independent run or a stated status and error shape.
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const RETAIN = path.resolve(process.env.RETAIN);
const SOURCE = path.resolve(process.env.SOURCE_DIR);
const WORK = path.resolve(process.env.WORK);
const require = createRequire(path.join(process.env.OPENAI_DIR, "node_modules", "x.js"));
const { default: OpenAI } = await import(require.resolve("openai"));
const KEY = "test-key-123";
const DEVICE = process.env.DEVICE || "cpu";  // DEVICE=cuda: the same checks on the GPU (and retain generate there too)
const TINY = path.join(SOURCE, "models/retain-tiny");

fs.rmSync(WORK, { recursive: true, force: true });
fs.mkdirSync(WORK, { recursive: true });

// --- fixtures: an asr checkpoint, and the base model with a chat template --------------------------
const tasks = ["echo", "sentiment"].flatMap((t) => ["--task", path.join(SOURCE, "tests/fixtures/data", t)]);
execFileSync(RETAIN, ["run", "--model", TINY, ...tasks, "--method", "asr", "--out", path.join(WORK, "run"),
  "--save-checkpoints", "--set", "optim.max_steps=4", "--set", "optim.batch_size=4", "--set", "optim.lr=5e-3",
  "--set", "eval.max_examples=2", "--set", "eval.general_text=off",
  "--set", "run.max_length=64", "--set", "method.asr.expansion_dim=256", "--device", DEVICE], { stdio: ["ignore", "ignore", "pipe"] });
const CKPT = path.join(WORK, "run/asr/checkpoints/task_2");
assert.ok(fs.existsSync(path.join(CKPT, "router.safetensors")));
const MODEL = path.join(WORK, "tiny-chat");
fs.mkdirSync(MODEL);
for (const f of ["config.json", "model.safetensors", "tokenizer.json", "generation_config.json"])
  fs.copyFileSync(path.join(TINY, f), path.join(MODEL, f));
const TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ m['role'] | upper }}: {{ m['content'] | trim }}\n{% endfor %}" +
  "{% if add_generation_prompt %}ASSISTANT:{% endif %}";
fs.writeFileSync(path.join(MODEL, "tokenizer_config.json"), JSON.stringify({ chat_template: TEMPLATE, bos_token: "<s>", eos_token: "</s>" }));

// --- server control ---------------------------------------------------------------------------------
async function start(extra, checkpoint = path.join(WORK, "run/asr")) {
  const proc = spawn(RETAIN, ["serve", "--model", MODEL, "--checkpoint", checkpoint, "--port", "0", "--device", DEVICE, ...extra],
    { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const port = await new Promise((resolve, reject) => {
    proc.stderr.on("data", (d) => {
      log += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    });
    proc.on("exit", (code) => reject(new Error(`retain serve exited ${code}: ${log}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; ++i) {
    const r = await fetch(`${base}/health`).catch(() => null);
    if (r && r.status === 200) break;
    if (r) assert.equal(r.status, 503, "health answers 503 while loading");
    await new Promise((s) => setTimeout(s, 50));
  }
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  return { proc, base, log: () => log, exited };
}

const results = [];
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push(`ok - ${name} (${Date.now() - t0} ms)`);
    console.log(results.at(-1));
  } catch (e) {
    console.log(`not ok - ${name}\n${e.stack}`);
    process.exitCode = 1;
  }
}

function generate(prompt, adapter, maxTokens) {
  const args = ["generate", "--model", TINY, "--prompt", prompt, "--max-new-tokens", String(maxTokens), "--jsonl", "--device", DEVICE];
  if (adapter) args.push("--adapter", adapter);
  return JSON.parse(execFileSync(RETAIN, args, { stdio: ["ignore", "pipe", "ignore"] }).toString().trim()).text;
}

async function raw(base, pathname, body, headers = {}) {
  const r = await fetch(base + pathname, { method: "POST", body, headers: { "Content-Type": "application/json", Authorization: `Bearer ${KEY}`, ...headers } });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, json, headers: r.headers, text };
}

function assertError(r, status, param) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json && r.json.error && typeof r.json.error.message === "string" && r.json.error.message.length > 0, r.text);
  assert.ok("type" in r.json.error && "param" in r.json.error && "code" in r.json.error, r.text);
  if (param !== undefined) assert.equal(r.json.error.param, param, r.text);
}

// Unfinished sentences: the tiny model continues them differently with each adapter (a finished
// sentence it ends at once).
const PROMPTS = ["Repeat: green", "Repeat: the package provides", "This film is", "The acting was"];
const N = 12;

// --- the main server ----------------------------------------------------------------------------------
const main = await start(["--api-key", KEY, "--max-batch", "8", "--max-queue", "64", "--max-model-len", "200",
  "--max-body-bytes", "65536"]);
const client = new OpenAI({ apiKey: KEY, baseURL: `${main.base}/v1`, maxRetries: 0 });
const greedy = (prompt, model, extra = {}) =>
  client.completions.create({ model, prompt, max_tokens: N, temperature: 0, ...extra });
const solo = {};

await check("GET /v1/models lists auto, base and the tasks", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ["auto", "base", "tiny_echo", "tiny_sentiment"]);
});

await check("auto equals the routed task named, and retain generate with that task's adapter", async () => {
  for (const p of PROMPTS) {
    const auto = await greedy(p, "auto");
    const route = auto.choices[0].retain;
    assert.equal(route.routed_by, "router");
    assert.ok(["tiny_echo", "tiny_sentiment"].includes(route.route), JSON.stringify(route));
    assert.equal(typeof route.score, "number");
    const named = await greedy(p, route.route);
    assert.equal(named.choices[0].retain.routed_by, "request");
    assert.equal(named.choices[0].text, auto.choices[0].text);
    const task = route.route === "tiny_echo" ? "task0" : "task1";
    assert.equal(auto.choices[0].text, generate(p, path.join(CKPT, task), N), p);
    assert.equal(auto.usage.prompt_tokens + auto.usage.completion_tokens, auto.usage.total_tokens);
    solo[p] = { auto: auto.choices[0].text, route: route.route };
  }
  // The router sends these prompts to both tasks, so the equalities above cover both adapters.
  assert.deepEqual(new Set(Object.values(solo).map((s) => s.route)), new Set(["tiny_echo", "tiny_sentiment"]));
  assert.ok(Object.values(solo).every((s) => s.auto.length > 0));
});

await check("base equals retain generate without an adapter", async () => {
  const r = await greedy(PROMPTS[1], "base");
  assert.equal(r.choices[0].retain.route, "base");
  assert.equal(r.choices[0].text, generate(PROMPTS[1], null, N));
  solo.base = r.choices[0].text;
});

await check("streamed text equals non-streamed text; the usage chunk has no choices", async () => {
  for (const p of PROMPTS.slice(0, 2)) {
    const stream = await client.completions.create({ model: "auto", prompt: p, max_tokens: N, temperature: 0, stream: true,
      stream_options: { include_usage: true } });
    let text = "", usage = null, finish = null;
    for await (const chunk of stream) {
      if (chunk.usage) {
        assert.deepEqual(chunk.choices, []);
        usage = chunk.usage;
      }
      for (const c of chunk.choices) {
        text += c.text;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert.equal(text, solo[p].auto);
    assert.ok(finish === "length" || finish === "stop");
    assert.ok(usage && usage.completion_tokens > 0);
  }
});

await check("token-id prompts (one list, a list of lists) equal their string prompts; choices follow prompts and n", async () => {
  // The ids the server's tokenizer gives each string prompt (special tokens added, as it does).
  const input = path.join(WORK, "prompts.jsonl"), output = path.join(WORK, "prompt-ids.jsonl");
  fs.writeFileSync(input, PROMPTS.map((text) => JSON.stringify({ text })).join("\n") + "\n");
  execFileSync(RETAIN, ["tokenize", "--tokenizer", path.join(MODEL, "tokenizer.json"), "--input", input, "--output", output,
    "--add-special-tokens"], { stdio: ["ignore", "ignore", "pipe"] });
  const ids = fs.readFileSync(output, "utf8").trim().split("\n").map((l) => JSON.parse(l).ids);
  assert.equal(ids.length, PROMPTS.length);
  for (let i = 0; i < PROMPTS.length; ++i) {
    const r = await greedy(ids[i], "auto");
    assert.equal(r.choices[0].text, solo[PROMPTS[i]].auto, PROMPTS[i]);
    assert.equal(r.choices[0].retain.route, solo[PROMPTS[i]].route);
    assert.equal(r.usage.prompt_tokens, ids[i].length);
  }
  // Several prompts in one request, each with n = 2: choice i·n + j is prompt i's j-th.
  for (const prompt of [ids.slice(0, 3), PROMPTS.slice(0, 3)]) {
    const r = await greedy(prompt, "auto", { n: 2 });
    assert.equal(r.choices.length, 6);
    r.choices.forEach((c, k) => {
      assert.equal(c.index, k);
      assert.equal(c.text, solo[PROMPTS[Math.floor(k / 2)]].auto, `choice ${k}`);
    });
  }
  // Ids outside the vocabulary: 400 naming the index and the id.
  const vocab = JSON.parse(fs.readFileSync(path.join(MODEL, "config.json"), "utf8")).vocab_size;
  const high = await raw(main.base, "/v1/completions", JSON.stringify({ prompt: [ids[0], [3, vocab]], max_tokens: 2 }));
  assertError(high, 400, "prompt");
  assert.match(high.json.error.message, new RegExp(`'prompt\\[1\\]\\[1\\]' is token id ${vocab}, outside the model's vocabulary \\[0, ${vocab}\\)`));
  const negative = await raw(main.base, "/v1/completions", JSON.stringify({ prompt: [5, -2], max_tokens: 2 }));
  assertError(negative, 400, "prompt");
  assert.match(negative.json.error.message, /'prompt\[1\]' is token id -2/);
  assertError(await raw(main.base, "/v1/completions", JSON.stringify({ prompt: [5, "x"] })), 400, "prompt");
  assert.equal((await greedy(ids[0], "auto")).choices[0].text, solo[PROMPTS[0]].auto);
});

await check("every output of a mixed concurrent batch equals its solo run", async () => {
  const jobs = [];
  for (let k = 0; k < 3; ++k)
    for (const p of PROMPTS) jobs.push({ p, model: "auto", want: solo[p].auto }, { p, model: solo[p].route, want: solo[p].auto });
  jobs.push({ p: PROMPTS[1], model: "base", want: solo.base });
  const out = await Promise.all(jobs.map((j) => greedy(j.p, j.model)));
  out.forEach((r, i) => assert.equal(r.choices[0].text, jobs[i].want, `${jobs[i].model}: ${jobs[i].p}`));
});

await check("a stop string cuts the text before it, also across tokens", async () => {
  const full = solo[PROMPTS[0]].auto;
  assert.ok(full.length >= 4, `need a longer greedy output: ${JSON.stringify(full)}`);
  const stop = full.slice(3, 6);  // "d r": the end of one token and the start of the next
  const at = full.indexOf(stop);
  const r = await greedy(PROMPTS[0], "auto", { stop: [stop] });
  assert.equal(r.choices[0].text, full.slice(0, at));
  assert.equal(r.choices[0].finish_reason, "stop");
  const s = await client.completions.create({ model: "auto", prompt: PROMPTS[0], max_tokens: N, temperature: 0, stop: stop, stream: true });
  let text = "";
  for await (const c of s) text += c.choices.map((x) => x.text).join("");
  assert.equal(text, full.slice(0, at));
});

await check("logprobs, n and seeded sampling", async () => {
  const r = await greedy(PROMPTS[1], "auto", { logprobs: 2 });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, r.usage.completion_tokens);
  assert.ok(lp.top_logprobs.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 2));
  assert.ok(lp.token_logprobs.every((x) => x <= 0));
  const a = await client.completions.create({ model: "auto", prompt: PROMPTS[1], max_tokens: N, temperature: 1, seed: 7, n: 2 });
  const b = await client.completions.create({ model: "auto", prompt: PROMPTS[1], max_tokens: N, temperature: 1, seed: 7, n: 2 });
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
});

await check("chat renders the model's template and equals the completion of the rendered prompt", async () => {
  const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "A joy to watch." }];
  const chat = await client.chat.completions.create({ model: "auto", messages, max_tokens: N, temperature: 0 });
  const rendered = "SYSTEM: Be brief.\nUSER: A joy to watch.\nASSISTANT:";  // the template above, without bos (completions add it)
  const plain = await greedy(rendered, chat.choices[0].retain.route);
  assert.equal(chat.choices[0].message.content, plain.choices[0].text);
  assert.equal(chat.choices[0].message.role, "assistant");
  const stream = await client.chat.completions.create({ model: "auto", messages, max_tokens: N, temperature: 0, stream: true });
  let text = "";
  for await (const c of stream) text += c.choices.map((x) => x.delta.content ?? "").join("");
  assert.equal(text, plain.choices[0].text);
});

await check("bad input gets its status and OpenAI's error body; the server answers correctly afterwards", async () => {
  const good = async () => assert.equal((await greedy(PROMPTS[0], "auto")).choices[0].text, solo[PROMPTS[0]].auto);
  const long = "word ".repeat(400);
  const cases = [
    [await raw(main.base, "/v1/completions", "{not json"), 400],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: "x", temperature: "hot" })), 400, "temperature"],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: "x", temperature: 5 })), 400, "temperature"],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: "x", top_p: -1 })), 400, "top_p"],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: "x", max_tokens: -3 })), 400, "max_tokens"],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: "x", n: 1000 })), 400, "n"],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: 42 })), 400, "prompt"],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: "x", model: "nope" })), 404, "model"],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: long })), 400, "prompt"],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: "x", max_tokens: 199 })), 400, "max_tokens"],
    [await raw(main.base, "/v1/completions", Buffer.from('{"prompt": "\xff\xfe"}', "latin1")), 400],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: "y".repeat(70000) })), 413],
    [await raw(main.base, "/v1/chat/completions", JSON.stringify({ messages: [] })), 400, "messages"],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: "x" }), { Authorization: "" }), 401],
    [await raw(main.base, "/v1/completions", JSON.stringify({ prompt: "x" }), { Authorization: "Bearer wrong" }), 401],
  ];
  for (const [r, status, param] of cases) {
    assertError(r, status, param);
    await good();
  }
  const tooLong = cases[8][0].json.error.message;
  assert.match(tooLong, /maximum context length is 200 tokens/);
  // The official client raises its typed errors.
  await assert.rejects(client.completions.create({ model: "nope", prompt: "x" }), (e) => e.status === 404);
});

await check("/metrics speaks Prometheus with vLLM's names and counts routed requests", async () => {
  const text = await (await fetch(`${main.base}/metrics`)).text();
  for (const name of ["retain:num_requests_running", "retain:num_requests_waiting", "retain:prompt_tokens_total",
    "retain:generation_tokens_total", "retain:time_to_first_token_seconds_bucket", "retain:inter_token_latency_seconds_bucket",
    "retain:e2e_request_latency_seconds_count", "retain:routed_requests_total"])
    assert.ok(text.includes(name), name);
  assert.match(text, /retain:routed_requests_total\{model_name="tiny-chat",task="tiny_echo",routed_by="router"\} [1-9]/);
});

await check("bounded load test: 96 requests at concurrency 32", async () => {
  const total = 96, concurrency = 32, latencies = [];
  let next = 0, tokens = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      const s = performance.now();
      const r = await greedy(PROMPTS[i % PROMPTS.length], i % 3 === 0 ? "base" : "auto");
      latencies.push(performance.now() - s);
      tokens += r.usage.completion_tokens;
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  const report = { requests: total, concurrency, seconds, requests_per_s: total / seconds, tokens_per_s: tokens / seconds,
    p50_ms: q(0.5), p99_ms: q(0.99) };
  fs.writeFileSync(path.join(WORK, "load.json"), JSON.stringify(report, null, 1));
  console.log("# load", JSON.stringify(report));
  assert.equal(latencies.length, total);
});

main.proc.kill("SIGTERM");
assert.equal((await main.exited).code, 0, main.log());

// --- a one-slot server: queue full, disconnects, SIGTERM ------------------------------------------
const small = await start(["--max-batch", "1", "--max-queue", "1", "--drain-seconds", "20"]);
const smallClient = new OpenAI({ apiKey: "none", baseURL: `${small.base}/v1`, maxRetries: 0 });
const metric = async (name) => {
  const text = await (await fetch(`${small.base}/metrics`)).text();
  const m = new RegExp(`^${name.replace(/[{}"]/g, "\\$&")} (\\d+)`, "m").exec(text);
  return m ? Number(m[1]) : 0;
};

await check("the queue full is a 503 with Retry-After; the others are answered", async () => {
  const body = JSON.stringify({ prompt: PROMPTS[0], max_tokens: 150, temperature: 0 });
  const rs = await Promise.all(Array.from({ length: 4 }, () => raw(small.base, "/v1/completions", body)));
  const rejected = rs.filter((r) => r.status === 503);
  assert.ok(rejected.length >= 1, rs.map((r) => r.status).join(","));
  for (const r of rejected) {
    assertError(r, 503);
    assert.equal(r.headers.get("retry-after"), "1");
  }
  assert.ok(rs.some((r) => r.status === 200));
});

await check("a client that disconnects mid-stream frees its slot", async () => {
  const before = await metric('retain:request_success_total{model_name="tiny-chat",finished_reason="cancelled"}');
  const controller = new AbortController();
  const stream = await smallClient.completions.create({ model: "auto", prompt: PROMPTS[0], max_tokens: 180, temperature: 0, stream: true },
    { signal: controller.signal });
  for await (const _ of stream) { controller.abort(); break; }
  let running = 1;
  for (let i = 0; i < 100 && running > 0; ++i) {
    await new Promise((s) => setTimeout(s, 50));
    running = await metric('retain:num_requests_running{model_name="tiny-chat"}');
  }
  assert.equal(running, 0);
  assert.equal(await metric('retain:request_success_total{model_name="tiny-chat",finished_reason="cancelled"}'), before + 1);
  assert.equal((await smallClient.completions.create({ model: "auto", prompt: PROMPTS[0], max_tokens: N, temperature: 0 })).choices[0].text,
    solo[PROMPTS[0]].auto);
});

await check("a client that disconnects before a non-streamed completion ends frees its slot", async () => {
  const cancelled = 'retain:request_success_total{model_name="tiny-chat",finished_reason="cancelled"}';
  const running = 'retain:num_requests_running{model_name="tiny-chat"}';
  const before = await metric(cancelled);
  const controller = new AbortController();
  const t0 = Date.now();
  const pending = smallClient.completions.create({ model: "auto", prompt: PROMPTS[0], max_tokens: 400, temperature: 0 },
    { signal: controller.signal });
  pending.catch(() => {});
  for (let i = 0; i < 200 && (await metric(running)) === 0; ++i) await new Promise((s) => setTimeout(s, 10));
  assert.equal(await metric(running), 1, "the request runs");
  controller.abort();
  await assert.rejects(pending);
  let left = 1, waited = 0;
  const aborted = Date.now();
  for (; waited < 100 && left > 0; ++waited) {
    await new Promise((s) => setTimeout(s, 20));
    left = await metric(running);
  }
  assert.equal(left, 0, "the slot is freed");
  // Cancelled, not finished: it was still generating when the client left.
  assert.equal(await metric(cancelled), before + 1);
  console.log(`# non-streamed disconnect: ran ${aborted - t0} ms, slot freed ${Date.now() - aborted} ms after the abort`);
  assert.equal((await smallClient.completions.create({ model: "auto", prompt: PROMPTS[0], max_tokens: N, temperature: 0 })).choices[0].text,
    solo[PROMPTS[0]].auto);
});

await check("SIGTERM finishes the request in flight and exits 0", async () => {
  const pending = smallClient.completions.create({ model: "auto", prompt: PROMPTS[0], max_tokens: 120, temperature: 0 });
  await new Promise((s) => setTimeout(s, 150));
  small.proc.kill("SIGTERM");
  const r = await pending;
  assert.equal(r.choices[0].text.slice(0, solo[PROMPTS[0]].auto.length), solo[PROMPTS[0]].auto);
  assert.ok(r.usage.completion_tokens >= N);
  const { code } = await small.exited;
  assert.equal(code, 0, small.log());
  await assert.rejects(fetch(`${small.base}/health`));
});

// --- a seta checkpoint: the gate routes each request to a task's experts ---------------------------
execFileSync(RETAIN, ["run", "--model", TINY, ...tasks, "--method", "seta", "--out", path.join(WORK, "run-seta"),
  "--save-checkpoints", "--set", "optim.max_steps=4", "--set", "optim.batch_size=4", "--set", "optim.lr=5e-2",
  "--set", "eval.max_examples=2", "--set", "eval.general_text=off", "--set", "run.max_length=64",
  "--set", "method.seta.gate_steps=100", "--set", "method.seta.importance_samples=4", "--device", DEVICE],
  { stdio: ["ignore", "ignore", "pipe"] });
const setaServer = await start(["--max-batch", "8"], path.join(WORK, "run-seta/seta"));
const setaClient = new OpenAI({ apiKey: "none", baseURL: `${setaServer.base}/v1`, maxRetries: 0 });
const setaGreedy = (prompt, model) => setaClient.completions.create({ model, prompt, max_tokens: N, temperature: 0 });

await check("seta: auto equals the routed task named, base equals the base model, a mixed batch equals solo", async () => {
  const ids = [];
  for await (const m of setaClient.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ["auto", "base", "tiny_echo", "tiny_sentiment"]);
  const setaSolo = {};
  for (const p of PROMPTS) {
    const auto = await setaGreedy(p, "auto");
    const route = auto.choices[0].retain;
    assert.equal(route.routed_by, "router");
    assert.ok(["tiny_echo", "tiny_sentiment"].includes(route.route), JSON.stringify(route));
    assert.ok(route.score > 0 && route.score <= 1, JSON.stringify(route));  // the gate's probability
    const named = await setaGreedy(p, route.route);
    assert.equal(named.choices[0].retain.routed_by, "request");
    assert.equal(named.choices[0].text, auto.choices[0].text, p);
    setaSolo[p] = { auto: auto.choices[0].text, route: route.route };
  }
  const base = await setaGreedy(PROMPTS[1], "base");
  assert.equal(base.choices[0].text, generate(PROMPTS[1], null, N));
  const jobs = [];
  for (let k = 0; k < 2; ++k)
    for (const p of PROMPTS) jobs.push({ p, model: "auto", want: setaSolo[p].auto }, { p, model: setaSolo[p].route, want: setaSolo[p].auto });
  jobs.push({ p: PROMPTS[1], model: "base", want: base.choices[0].text });
  const out = await Promise.all(jobs.map((j) => setaGreedy(j.p, j.model)));
  out.forEach((r, i) => assert.equal(r.choices[0].text, jobs[i].want, `${jobs[i].model}: ${jobs[i].p}`));
});
setaServer.proc.kill("SIGTERM");
assert.equal((await setaServer.exited).code, 0, setaServer.log());

// --- adapter checkpoints: no router, every trained adapter summed, as the methods' own inference ----
for (const method of ["inclora", "seqlora"]) {
  execFileSync(RETAIN, ["run", "--model", TINY, ...tasks, "--method", method, "--out", path.join(WORK, `run-${method}`),
    "--save-checkpoints", "--set", "optim.max_steps=4", "--set", "optim.batch_size=4", "--set", "optim.lr=5e-2",
    "--set", "eval.max_examples=2", "--set", "eval.general_text=off", "--set", "run.max_length=64", "--device", DEVICE],
    { stdio: ["ignore", "ignore", "pipe"] });
  const ckpt = path.join(WORK, `run-${method}`, method, "checkpoints", "task_2");
  const adapters = JSON.parse(fs.readFileSync(path.join(ckpt, "adapters.json"), "utf8")).adapters.map((a) => path.join(ckpt, a));
  assert.equal(adapters.length, method === "inclora" ? 2 : 1);
  const server = await start(["--max-batch", "8"], path.join(WORK, `run-${method}`, method));
  const c = new OpenAI({ apiKey: "none", baseURL: `${server.base}/v1`, maxRetries: 0 });
  const run = (prompt, model) => c.completions.create({ model, prompt, max_tokens: N, temperature: 0 });
  await check(`${method}: auto and every task id equal retain generate with all its adapters; base the base model`, async () => {
    const ids = [];
    for await (const m of c.models.list()) ids.push(m.id);
    assert.deepEqual(ids, ["auto", "base", "tiny_echo", "tiny_sentiment"]);
    const want = {};
    let changed = false;
    for (const p of PROMPTS) {
      const auto = await run(p, "auto");
      assert.deepEqual(auto.choices[0].retain, { route: method, routed_by: "none" });
      const args = adapters.flatMap((a) => ["--adapter", a]);
      const own = JSON.parse(execFileSync(RETAIN, ["generate", "--model", TINY, "--prompt", p, "--max-new-tokens", String(N),
        "--jsonl", "--device", DEVICE, ...args], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim()).text;
      assert.equal(auto.choices[0].text, own, p);
      for (const task of ["tiny_echo", "tiny_sentiment"]) assert.equal((await run(p, task)).choices[0].text, own, `${task}: ${p}`);
      const base = await run(p, "base");
      assert.deepEqual(base.choices[0].retain, { route: "base", routed_by: "request" });
      assert.equal(base.choices[0].text, generate(p, null, N));
      changed = changed || base.choices[0].text !== own;
      want[p] = { auto: own, base: base.choices[0].text };
    }
    assert.ok(changed, "the adapters change some output");
    const jobs = PROMPTS.flatMap((p) => [{ p, model: "auto", want: want[p].auto }, { p, model: "base", want: want[p].base },
      { p, model: "tiny_sentiment", want: want[p].auto }]);
    const out = await Promise.all(jobs.map((j) => run(j.p, j.model)));
    out.forEach((r, i) => assert.equal(r.choices[0].text, jobs[i].want, `${jobs[i].model}: ${jobs[i].p}`));
  });
  server.proc.kill("SIGTERM");
  assert.equal((await server.exited).code, 0, server.log());
}

await check("a folder of PEFT adapters without adapters.json is refused at start-up, naming what is served", async () => {
  const bare = path.join(WORK, "bare");
  fs.cpSync(path.join(WORK, "run-inclora/inclora/checkpoints/task_2/task0"), path.join(bare, "task0"), { recursive: true });
  const proc = spawn(RETAIN, ["serve", "--model", MODEL, "--checkpoint", bare, "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr.on("data", (d) => { log += d; });
  const code = await new Promise((resolve) => proc.on("exit", resolve));
  assert.equal(code, 1, log);
  assert.match(log, /retain: error: .*seqlora, inclora, olora or inflora \(adapters\.json/, log);
});

console.log(`${results.length} checks passed${process.exitCode ? ", some FAILED" : ""}`);
