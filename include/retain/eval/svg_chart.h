// retain/eval/svg_chart.h — small inline-SVG charts for the HTML report (eval/report.h): grouped
// bars, lines and a heatmap, each with a title, axes with ticks and labels, a legend, and an
// accessible <title>/<desc>. No JavaScript, fonts or external resources: the SVG is self-contained
// and well-formed XML (it is also valid inside an XHTML document).
//
// Every chart's root is <svg class="chart" data-chart="KIND" role="img" ...>, so tests and scripts
// can find charts by kind. All text that reaches the output goes through escape().
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace retain::svg {

/// Text for an XML/HTML text node or a double-quoted attribute: & < > " ' become entities.
std::string escape(const std::string& text);

/// Colour i (modulo 8) of the Okabe–Ito palette, safe for the common colour-vision deficiencies,
/// as "#rrggbb". Colour 0 is black; methods get colours 1..7 first (see method_colour).
std::string palette(size_t i);

/// The colour of the i-th method of a report: Okabe–Ito colours 1..7, then 0 (black), then again.
std::string method_colour(size_t i);

/// Up to about `count` "nice" tick values (1, 2, 2.5 or 5 × 10^k steps) covering [lo, hi]; the
/// first tick is <= lo and the last >= hi. lo == hi gives a small range around the value.
std::vector<double> nice_ticks(double lo, double hi, size_t count = 5);

/// A fraction as a percentage with `decimals` decimals ("75.0"); "−0.0" is written "0.0".
std::string percent(double fraction, int decimals = 1);

/// A number in the shortest form that reads back to the same double ("0.1", "1e-07"): for data-*
/// attributes that tests compare exactly.
std::string exact(double value);

/// What every chart carries besides its data.
struct ChartInfo {
  std::string kind;         // data-chart value: "aa-bwt", "heatmap", "task-curve", "loss", ...
  std::string title;        // drawn at the top, and the <title> of the SVG
  std::string description;  // the <desc>: what is plotted, for screen readers
  std::vector<std::pair<std::string, std::string>> data;  // extra data-* attributes (name without "data-")
};

/// Grouped vertical bars: one group per category (x), one bar per series within a group.
struct BarChart {
  ChartInfo info;
  std::vector<std::string> categories;                     // x labels (method names)
  std::vector<std::string> series;                         // legend entries ("AA", "BWT")
  std::vector<std::string> colours;                        // one per series
  std::vector<std::vector<std::optional<double>>> values;  // [category][series]; nullopt: no bar, "n/a"
  std::string y_label;
  bool percent = true;  // values are fractions, shown as percentages
  double width = 720, height = 340;
};
std::string bar_chart(const BarChart& chart);

struct LineSeries {
  std::string name;
  std::string colour;
  std::vector<double> x;
  std::vector<std::optional<double>> y;  // nullopt: a gap in the line
  bool markers = true;                   // a dot at each point
  std::string dash;                      // stroke-dasharray, "" = solid
};

/// A vertical dashed line at x with a label at the top (task boundaries, "trained here").
struct Marker {
  double x = 0;
  std::string label;
};

/// Lines over a numeric x axis. x ticks are nice_ticks of the x range unless x_tick_labels is given:
/// then ticks sit at x = 0, 1, ... with those labels.
struct LineChart {
  ChartInfo info;
  std::vector<LineSeries> series;
  std::string x_label, y_label;
  std::vector<std::string> x_tick_labels;
  std::vector<Marker> markers;
  std::optional<double> y_min, y_max;  // fixed y range; default: nice ticks around the data
  bool percent = false;                // y values are fractions, shown as percentages
  bool legend = true;
  double width = 480, height = 300;
};
std::string line_chart(const LineChart& chart);

/// A matrix of values in [0, 1] as coloured cells (a colour-blind-safe sequential scale, with a
/// legend), each cell showing its value as a percentage. Cells are <rect class="cell"> with
/// data-row, data-col and data-value (exact()); a missing value is a grey cell without data-value.
struct Heatmap {
  ChartInfo info;
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::vector<std::optional<double>>> values;  // [row][col]
  std::string row_title, col_title;
  std::vector<std::pair<size_t, size_t>> outlined;  // cells drawn with a thick border (the diagonal)
};
std::string heatmap(const Heatmap& map);

/// The scale colour of a fraction in [0, 1] (clamped): a perceptually ordered dark-to-light ramp
/// (viridis), "#rrggbb".
std::string scale_colour(double fraction);

}  // namespace retain::svg
