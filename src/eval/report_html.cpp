#include "retain/eval/report_html.h"

#include "retain/core/error.h"
#include "retain/eval/report.h"
#include "retain/eval/svg_chart.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

namespace retain {

namespace {

constexpr const char* kComponent = "report";

using svg::escape;

std::optional<double> final_routing(const MethodResults& r) {
  if (!r.routing_accuracy || r.routing_accuracy->empty()) return std::nullopt;
  const auto& last = r.routing_accuracy->back();
  double sum = 0;
  size_t n = 0;
  for (const auto& v : last)
    if (v) sum += *v, ++n;
  if (n == 0) return std::nullopt;
  return sum / static_cast<double>(n);
}

std::string scoring_text(Scoring s) {
  return s == Scoring::Rank ? "label ranking by log-likelihood" : "greedy generation, normalised exact match";
}

// One column of the comparison table.
struct Column {
  std::string header, title;  // title: a tooltip that says what the number is
  bool higher_is_better;
  double resolution;  // of the shown number: values equal at it are tied
  std::function<std::optional<double>(const MethodResults&)> value;
  std::function<std::string(const MethodResults&, double)> show;
};

const char* kStyle = R"(
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1240px; padding: 24px 28px 40px; color: #1d1d1f; background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 34px 0 6px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
p.lead { margin: 0 0 16px; color: #555; }
p.note { color: #555; font-size: 12.5px; margin: 6px 0 10px; max-width: 880px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 12px 0 0; }
dl.facts dt { color: #666; }
dl.facts dd { margin: 0; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f4f4f6; padding: 0 3px;
  border-radius: 3px; }
ol.tasks { margin: 0; padding-left: 20px; }
table.comparison { border-collapse: collapse; margin: 10px 0 4px; font-variant-numeric: tabular-nums; }
table.comparison th, table.comparison td { padding: 5px 12px; border-bottom: 1px solid #e5e5e5; }
table.comparison th { text-align: right; font-weight: 600; background: #f6f6f8; border-bottom: 2px solid #ccc;
  white-space: nowrap; }
table.comparison th:first-child, table.comparison td:first-child { text-align: left; }
table.comparison tbody th { font-weight: 600; background: none; border-bottom: 1px solid #e5e5e5; }
table.comparison td.num { text-align: right; white-space: nowrap; }
table.comparison td.best { font-weight: 700; background: #e3f1e8; }
table.comparison tr.privileged td { color: #555; background: #fafafa; }
table.comparison tr.privileged td.best { background: #eef6f1; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 7px; }
.tag { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 9px; font-size: 11px; color: #7a3d00;
  background: #fbe8d3; border: 1px solid #f0c9a0; white-space: nowrap; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 14px 18px; }
figure { margin: 0; padding: 8px; border: 1px solid #eee; border-radius: 6px; break-inside: avoid;
  page-break-inside: avoid; }
figure.wide { width: fit-content; max-width: 100%; }
figcaption { font-size: 12px; color: #555; margin-top: 4px; }
svg.chart { display: block; max-width: 100%; height: auto; }
footer { margin-top: 36px; color: #777; font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .grid { grid-template-columns: repeat(2, 1fr); }
  table.comparison td.best { background: none; text-decoration: underline; }
}
)";

std::string method_cell(const MethodResults& r, size_t index) {
  // Past the 8 palette colours a method's lines are dashed, and its swatch hollow.
  const std::string colour = svg::method_colour(index);
  const std::string style =
      index >= 8 ? fmt::format("border:2px solid {}", colour) : fmt::format("background:{}", colour);
  std::string out = fmt::format("<span class=\"swatch\" style=\"{}\"></span>{}", style, escape(r.method));
  const std::string tag = privileged_label(r);
  if (!tag.empty()) out += fmt::format("<span class=\"tag\">{}</span>", escape(tag));
  return out;
}

// Lines of privileged methods are dashed, as are the 9th and later methods (the palette has 8).
std::string method_dash(const MethodResults& r, size_t index) {
  if (!privileged_label(r).empty()) return "6 3";
  return index >= 8 ? "2 2" : "";
}

std::string comparison_table(const RunReport& report) {
  const auto& methods = report.methods;
  bool routing = false;
  for (const auto& r : methods) routing = routing || final_routing(r).has_value();
  auto pct = [](const MethodResults&, double v) { return svg::percent(v); };
  std::vector<Column> columns = {
      {"AA (%)", "average accuracy after the last task", true, 1e-3,
       [](const MethodResults& r) { return std::optional<double>(r.metrics().average_accuracy); }, pct},
      {"BWT (%)", "backward transfer: negative = forgetting", true, 1e-3,
       [](const MethodResults& r) { return r.metrics().backward_transfer; }, pct},
      {"FWT (%)", "forward transfer: earlier tasks' effect on a task before it is trained", true, 1e-3,
       [](const MethodResults& r) { return r.metrics().forward_transfer; }, pct},
      {"forgetting (%)", "mean drop from each task's best score to its final score", false, 1e-3,
       [](const MethodResults& r) { return r.metrics().forgetting; }, pct}};
  if (routing)
    columns.push_back({"routing (%)", "share of test prompts routed to their own task, after the last task", true, 1e-3,
                       final_routing, pct});
  columns.push_back(
      {"trainable", "trainable parameters (largest over the tasks) and share of all parameters", false, 1,
       [](const MethodResults& r) { return std::optional<double>(static_cast<double>(r.trainable_params)); },
       [](const MethodResults& r, double) {
         std::string s = abbreviate_count(r.trainable_params);
         if (r.total_params > 0) {
           const double share = 100.0 * static_cast<double>(r.trainable_params) / static_cast<double>(r.total_params);
           s += share >= 0.01 || share == 0.0 ? fmt::format(" ({:.2f}%)", share) : " (&lt;0.01%)";
         }
         return s;
       }});
  columns.push_back({"time (s)", "wall time of training and evaluation", false, 0.1,
                     [](const MethodResults& r) { return std::optional<double>(r.seconds); },
                     [](const MethodResults&, double v) { return fmt::format("{:.1f}", v); }});

  // Best per column among the methods without privileged information (when there are any), compared
  // as shown (ties at the shown precision are all best); a column where all of them tie has none.
  bool any_plain = false;
  for (const auto& r : methods) any_plain = any_plain || privileged_label(r).empty();
  auto shown = [&](size_t c, double v) { return std::round(v / columns[c].resolution); };
  std::vector<std::optional<double>> best(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) {
    std::optional<double> worst;
    for (const auto& r : methods) {
      if (any_plain && !privileged_label(r).empty()) continue;
      const auto v = columns[c].value(r);
      if (!v) continue;
      const double s = shown(c, *v);
      const bool higher = columns[c].higher_is_better;
      if (!best[c] || (higher ? s > *best[c] : s < *best[c])) best[c] = s;
      if (!worst || (higher ? s < *worst : s > *worst)) worst = s;
    }
    if (best[c] && *best[c] == *worst) best[c].reset();
  }

  std::string out = "<table class=\"comparison\">\n<thead><tr><th scope=\"col\">method</th>";
  for (const auto& col : columns)
    out += fmt::format("<th scope=\"col\" title=\"{}\">{}</th>", escape(col.title), escape(col.header));
  out += "</tr></thead>\n<tbody>\n";
  for (size_t i = 0; i < methods.size(); ++i) {
    const auto& r = methods[i];
    const bool privileged = !privileged_label(r).empty();
    out += fmt::format("<tr data-method=\"{}\"{}><th scope=\"row\">{}</th>", escape(r.method),
                       privileged ? " class=\"privileged\"" : "", method_cell(r, i));
    for (size_t c = 0; c < columns.size(); ++c) {
      const auto v = columns[c].value(r);
      const bool is_best = v && best[c] && shown(c, *v) == *best[c] && !(any_plain && privileged);
      if (!v) {
        out += "<td class=\"num\">—</td>";
        continue;
      }
      out += fmt::format("<td class=\"num{}\" data-value=\"{}\">{}</td>", is_best ? " best" : "", svg::exact(*v),
                         columns[c].show(r, *v));
    }
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n";
  return out;
}

std::string header(const RunReport& report) {
  std::string out = "<header>\n<h1>Continual-learning run</h1>\n";
  out += fmt::format("<p class=\"lead\">{} methods through {} tasks on <code>{}</code></p>\n", report.methods.size(),
                     report.tasks.size(), escape(report.model));
  out += "<dl class=\"facts\">\n";
  out += fmt::format("<dt>model</dt><dd><code>{}</code></dd>\n", escape(report.model));
  out += "<dt>task sequence</dt><dd><ol class=\"tasks\">";
  for (const auto& t : report.tasks) out += fmt::format("<li>{}</li>", escape(t));
  out += "</ol></dd>\n<dt>methods</dt><dd>";
  for (size_t i = 0; i < report.methods.size(); ++i) out += (i ? ", " : "") + escape(report.methods[i].method);
  std::vector<std::string> missing;
  for (const auto& p : report.planned)
    if (std::none_of(report.methods.begin(), report.methods.end(), [&](const auto& r) { return r.method == p; }))
      missing.push_back(p);
  if (!missing.empty()) {
    out += " <em>(not finished: ";
    for (size_t i = 0; i < missing.size(); ++i) out += (i ? ", " : "") + escape(missing[i]);
    out += ")</em>";
  }
  out += "</dd>\n";
  out += fmt::format("<dt>seed</dt><dd>{}</dd>\n", report.seed);
  out += fmt::format("<dt>date</dt><dd>{}</dd>\n", escape(report.date));
  out += fmt::format("<dt>retain version</dt><dd>{}</dd>\n", escape(report.retain_version));

  std::map<std::string, std::vector<std::string>> by_scoring;
  for (const auto& r : report.methods) by_scoring[scoring_text(r.scoring)].push_back(r.method);
  out += "<dt>scoring</dt><dd>";
  if (by_scoring.size() == 1) {
    out += escape(by_scoring.begin()->first);
  } else {
    bool first = true;
    for (const auto& [text, names] : by_scoring) {
      out += (first ? "" : "; ") + escape(text) + " (";
      for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + escape(names[i]);
      out += ")";
      first = false;
    }
  }
  out += "</dd>\n<dt>privileged information</dt><dd>";
  std::vector<std::string> privileged;
  for (const auto& r : report.methods) {
    const std::string label = privileged_label(r);
    if (label == "oracle")
      privileged.push_back(escape(r.method) + " — <em>oracle</em>: uses the true task id at test time");
    else if (label == "upper bound")
      privileged.push_back(escape(r.method) + " — <em>upper bound</em>: trains jointly on every task seen so far");
    else if (label == "stores data")
      privileged.push_back(escape(r.method) + " — <em>stores data</em>: keeps earlier tasks' examples for rehearsal");
  }
  if (privileged.empty()) out += "none: every method is task-agnostic at test time and keeps no earlier data";
  for (size_t i = 0; i < privileged.size(); ++i) out += (i ? "<br/>" : "") + privileged[i];
  out += "</dd>\n</dl>\n</header>\n";
  return out;
}

std::string matrix_section(const RunReport& report) {
  std::string out = "<div class=\"grid\">\n";
  const size_t t = report.tasks.size();
  for (size_t i = 0; i < report.methods.size(); ++i) {
    const auto& r = report.methods[i];
    svg::Heatmap map;
    map.info.kind = "heatmap";
    map.info.title = r.method + ": accuracy matrix";
    map.info.description = fmt::format(
        "Accuracy of {} on each task's test split (columns) with the base model and after training each task "
        "(rows); {} × {} cells, values in percent. Outlined: each task just after its own training.",
        r.method, t + 1, t);
    map.info.data = {{"method", r.method}};
    map.row_title = "stage";
    map.col_title = "test task";
    for (size_t s = 0; s <= t; ++s)
      map.row_labels.push_back(s == 0 ? std::string("base") : fmt::format("after {}", r.matrix.tasks[s - 1]));
    map.col_labels = r.matrix.tasks;
    for (const auto& row : r.matrix.scores) {
      std::vector<std::optional<double>> values(row.begin(), row.end());
      map.values.push_back(values);
    }
    for (size_t k = 0; k < t; ++k) map.outlined.emplace_back(k + 1, k);
    const auto m = r.metrics();
    out += "<figure>" + svg::heatmap(map);
    out += fmt::format("<figcaption>AA {}%, BWT {}, FWT {}.</figcaption></figure>\n", svg::percent(m.average_accuracy),
                       m.backward_transfer ? svg::percent(*m.backward_transfer) + "%" : "—",
                       m.forward_transfer ? svg::percent(*m.forward_transfer) + "%" : "—");
  }
  return out + "</div>\n";
}

std::string aa_bwt_chart(const RunReport& report) {
  svg::BarChart chart;
  chart.info.kind = "aa-bwt";
  chart.info.title = "Average accuracy (AA) and backward transfer (BWT)";
  chart.info.description =
      "Grouped bars per method: AA after the last task and BWT, in percent; BWT below zero "
      "means forgetting.";
  chart.series = {"AA", "BWT"};
  chart.colours = {svg::palette(5), svg::palette(6)};
  chart.y_label = "percent";
  for (const auto& r : report.methods) {
    const std::string tag = privileged_label(r);
    chart.categories.push_back(tag.empty() ? r.method : r.method + " (" + tag + ")");
    const auto m = r.metrics();
    chart.values.push_back({m.average_accuracy, m.backward_transfer});
  }
  chart.width = std::clamp(140.0 + 70.0 * static_cast<double>(report.methods.size()), 480.0, 1180.0);
  std::string caption = report.tasks.size() == 1 ? "BWT is undefined (n/a) for a single task. " : "";
  if (std::any_of(report.methods.begin(), report.methods.end(),
                  [](const auto& r) { return !privileged_label(r).empty(); }))
    caption += "A label in parentheses marks privileged information (see the run's details above).";
  return "<figure class=\"wide\">" + svg::bar_chart(chart) +
         (caption.empty() ? "" : "<figcaption>" + caption + "</figcaption>") + "</figure>\n";
}

std::string task_curves(const RunReport& report) {
  std::string out = "<div class=\"grid\">\n";
  const size_t t = report.tasks.size();
  for (size_t j = 0; j < t; ++j) {
    svg::LineChart chart;
    chart.info.kind = "task-curve";
    chart.info.title = fmt::format("Task {}: {}", j + 1, report.tasks[j]);
    chart.info.description = fmt::format(
        "Accuracy on the test split of task {} ({}) with the base model and after each task, one line per method.",
        j + 1, report.tasks[j]);
    chart.info.data = {{"task", report.tasks[j]}};
    chart.x_label = "stage (base model, then after task k)";
    chart.y_label = "accuracy (%)";
    chart.percent = true;
    chart.y_min = 0;
    chart.y_max = 1;
    for (size_t s = 0; s <= t; ++s) chart.x_tick_labels.push_back(s == 0 ? "base" : std::to_string(s));
    chart.markers.push_back({static_cast<double>(j + 1), "trained"});
    for (size_t i = 0; i < report.methods.size(); ++i) {
      const auto& r = report.methods[i];
      svg::LineSeries line;
      line.name = r.method;
      line.colour = svg::method_colour(i);
      line.dash = method_dash(r, i);
      for (size_t s = 0; s <= t; ++s) {
        line.x.push_back(static_cast<double>(s));
        line.y.emplace_back(r.matrix.scores[s][j]);
      }
      chart.series.push_back(std::move(line));
    }
    out += "<figure>" + svg::line_chart(chart) + "</figure>\n";
  }
  return out + "</div>\n";
}

// The general text's language-modelling loss per stage, one line per method that measured it.
std::string general_chart(const RunReport& report) {
  svg::LineChart chart;
  chart.info.kind = "general-loss";
  chart.info.title = "General ability: held-out general text";
  chart.info.description =
      "Language-modelling loss (nats per token) of the general text with the base model and after each task, one "
      "line per method, with the model as the method deploys it; lower is better, a rise is general ability lost.";
  chart.x_label = "stage (base model, then after task k)";
  chart.y_label = "loss (nats per token)";
  const size_t t = report.tasks.size();
  for (size_t s = 0; s <= t; ++s) chart.x_tick_labels.push_back(s == 0 ? "base" : std::to_string(s));
  for (size_t i = 0; i < report.methods.size(); ++i) {
    const auto& r = report.methods[i];
    if (!r.general_loss) continue;
    svg::LineSeries line;
    line.name = r.method;
    line.colour = svg::method_colour(i);
    line.dash = method_dash(r, i);
    for (size_t s = 0; s <= t; ++s) {
      line.x.push_back(static_cast<double>(s));
      const double v = (*r.general_loss)[s];
      line.y.push_back(std::isfinite(v) ? std::optional<double>(v) : std::nullopt);  // diverged: a gap
    }
    chart.series.push_back(std::move(line));
  }
  chart.width = 720;
  return "<figure class=\"wide\">" + svg::line_chart(chart) + "</figure>\n";
}

std::string loss_curves(const RunReport& report) {
  std::string out = "<div class=\"grid\">\n";
  for (size_t i = 0; i < report.methods.size(); ++i) {
    const auto& r = report.methods[i];
    const auto& log = report.logs[i];
    if (!log || log->empty()) {
      out += fmt::format("<figure><p class=\"note\">{}: no training log ({}/metrics.jsonl {}).</p></figure>\n",
                         escape(r.method), escape(r.method), log ? "is empty" : "is missing");
      continue;
    }
    const LossCurve curve = loss_curve(*log);
    svg::LineChart chart;
    chart.info.kind = "loss";
    chart.info.title = r.method + ": training loss";
    chart.info.description = fmt::format(
        "Answer-token cross-entropy of {} per optimizer step over the whole task sequence ({} steps{}); dashed "
        "lines mark where each task starts.",
        r.method, curve.steps, curve.bucket > 1 ? fmt::format(", mean of every {} steps", curve.bucket) : "");
    chart.info.data = {{"method", r.method}};
    chart.x_label = curve.bucket > 1 ? fmt::format("optimizer step (mean of {} per point)", curve.bucket)
                                     : std::string("optimizer step");
    chart.y_label = "loss";
    chart.y_min = 0;
    chart.legend = false;
    for (const auto& [x, name] : curve.task_starts) chart.markers.push_back({x, name});
    svg::LineSeries line;
    line.name = r.method;
    line.colour = svg::method_colour(i);
    line.markers = curve.step.size() <= 40;
    line.x = curve.step;
    line.y = curve.loss;
    chart.series.push_back(std::move(line));
    out += "<figure>" + svg::line_chart(chart) + "</figure>\n";
  }
  return out + "</div>\n";
}

}  // namespace

std::string render_report_html(const RunReport& report) {
  RETAIN_CHECK(!report.methods.empty() && report.logs.size() == report.methods.size(), kComponent,
               "nothing to report: {} methods, {} logs", report.methods.size(), report.logs.size());
  std::string out =
      "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<meta name=\"generator\" "
      "content=\"retain " RETAIN_VERSION "\"/>\n";
  out += fmt::format("<title>retain report: {}</title>\n<style>{}</style>\n</head>\n<body>\n", escape(report.model),
                     kStyle);
  out += header(report);
  out += "<section id=\"comparison\">\n<h2>Comparison</h2>\n" + comparison_table(report);
  out +=
      "<p class=\"note\">Scores in percent of the test split. AA: mean accuracy over all tasks after the last one; "
      "BWT: change on earlier tasks from just after their training to the end (negative = forgetting); FWT: "
      "change on a task from the base model to just before its own training; forgetting: mean drop from each "
      "task's best score to its final one. Routing: share of test prompts sent to their own task's expert after "
      "the last task. Highlighted: the best value of each column";
  bool any_privileged = false, any_plain = false;
  for (const auto& r : report.methods) (privileged_label(r).empty() ? any_plain : any_privileged) = true;
  out += any_privileged && any_plain ? ", among the methods without privileged information.</p>\n</section>\n"
                                     : ".</p>\n</section>\n";
  out += "<section id=\"aa-bwt\">\n<h2>Average accuracy and backward transfer</h2>\n" + aa_bwt_chart(report) +
         "</section>\n";
  out +=
      "<section id=\"matrices\">\n<h2>Accuracy matrices</h2>\n<p class=\"note\">Row “base” is the model before "
      "any training; row “after <em>k</em>” follows training task <em>k</em>. Above the outlined diagonal: tasks "
      "not yet trained (forward transfer); below it: tasks trained earlier (forgetting).</p>\n" +
      matrix_section(report) + "</section>\n";
  out +=
      "<section id=\"tasks\">\n<h2>Per-task accuracy across stages</h2>\n<p class=\"note\">Each task's test "
      "accuracy with the base model and after each task of the sequence; the dashed line marks the stage at "
      "which the task itself was trained. Dashed series: methods with privileged information.</p>\n" +
      task_curves(report) + "</section>\n";
  if (std::any_of(report.methods.begin(), report.methods.end(), [](const auto& r) { return r.general_loss.has_value(); }))
    out +=
        "<section id=\"general\">\n<h2>General ability</h2>\n<p class=\"note\">Held-out general text "
        "(eval.general_text): its language-modelling loss before any task and after each, an offline proxy for the "
        "papers' general benchmarks.</p>\n" +
        general_chart(report) + "</section>\n";
  out +=
      "<section id=\"loss\">\n<h2>Training loss</h2>\n<p class=\"note\">Per optimizer step over the whole "
      "sequence, from each method's metrics.jsonl; long curves are averaged over buckets of steps (never across "
      "a task boundary).</p>\n" +
      loss_curves(report) + "</section>\n";
  out += fmt::format("<footer>Run folder <code>{}</code>; results of retain {}; page written by retain {}.</footer>\n",
                     escape(report.dir.string()), escape(report.retain_version), RETAIN_VERSION);
  return out + "</body>\n</html>\n";
}

}  // namespace retain
