#include "retain/eval/svg_chart.h"

#include "retain/core/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace retain::svg {

namespace {

constexpr double kFont = 11;  // px, the charts' base font size

// Approximate width of a label in a sans-serif face: the charts only need it for layout (legend
// wrapping, margins, truncation), never for anything a test checks.
double text_width(const std::string& s, double font = kFont) {
  size_t glyphs = 0;
  for (char c : s) glyphs += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return static_cast<double>(glyphs) * font * 0.58;
}

// Cuts a label to about `width` px, ending it with "…" when cut (never inside a UTF-8 sequence).
std::string fit(const std::string& s, double width, double font = kFont) {
  if (text_width(s, font) <= width) return s;
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0xF0)
      n = 4;
    else if (c >= 0xE0)
      n = 3;
    else if (c >= 0xC0)
      n = 2;
    if (text_width(out + s.substr(i, n) + "…", font) > width) break;
    out += s.substr(i, n);
    i += n;
  }
  return out + "…";
}

std::string num(double v) { return fmt::format("{:.1f}", v); }

// Decimals that tell ticks `step` apart.
int tick_decimals(double step) {
  if (!(step > 0)) return 0;
  int d = 0;
  while (d < 6 && std::abs(std::round(step * std::pow(10.0, d)) - step * std::pow(10.0, d)) > 1e-6) ++d;
  return d;
}

std::string tick_label(double v, double step, bool as_percent) {
  if (as_percent) return percent(v, tick_decimals(step * 100.0));
  std::string s = fmt::format("{:.{}f}", v, tick_decimals(step));
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);
  return s;
}

std::string open_svg(const ChartInfo& info, double width, double height) {
  RETAIN_CHECK(!info.kind.empty(), "report", "a chart needs a kind (data-chart)");
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-chart=\"{}\" role=\"img\" width=\"{}\" "
      "height=\"{}\" viewBox=\"0 0 {} {}\" font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, "
      "sans-serif\" font-size=\"{}\"",
      escape(info.kind), num(width), num(height), num(width), num(height), kFont);
  for (const auto& [name, value] : info.data) out += fmt::format(" data-{}=\"{}\"", escape(name), escape(value));
  out += fmt::format(">\n<title>{}</title>\n<desc>{}</desc>\n", escape(info.title), escape(info.description));
  out += fmt::format(
      "<text class=\"chart-title\" x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" "
      "font-weight=\"600\" fill=\"#222\">{}</text>\n",
      num(width / 2), escape(fit(info.title, width - 16, 13)));
  return out;
}

struct LegendItem {
  std::string name, colour, dash;
  bool line = false;
};

// Legend rows under the title, wrapped to `width`; returns the SVG and adds the rows' height.
std::string legend(const std::vector<LegendItem>& items, double left, double width, double top, double& height) {
  std::string out = "<g class=\"legend\">\n";
  double x = left, y = top;
  height = items.empty() ? 0 : 16;
  for (const auto& item : items) {
    const std::string name = fit(item.name, 160);
    const double w = 18 + text_width(name) + 14;
    if (x > left && x + w > left + width) {
      x = left;
      y += 16;
      height += 16;
    }
    if (item.line) {
      out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2.5\"{}/>", num(x),
                         num(y + 6), num(x + 14), num(y + 6), item.colour,
                         item.dash.empty() ? "" : fmt::format(" stroke-dasharray=\"{}\"", item.dash));
    } else {
      out +=
          fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>", num(x), num(y), item.colour);
    }
    out += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#222\">{}</text>\n", num(x + 18), num(y + 10), escape(name));
    x += w;
  }
  return out + "</g>\n";
}

struct Frame {
  double left, top, width, height;  // the plot area
  double x0, x1, y0, y1;            // data ranges
  double sx(double x) const { return left + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * width; }
  double sy(double y) const { return top + (y1 > y0 ? (y1 - y) / (y1 - y0) : 0.5) * height; }
};

// Horizontal grid lines, y tick labels and the y-axis title.
std::string y_axis(const Frame& f, const std::vector<double>& ticks, bool as_percent, const std::string& label) {
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  std::string out = "<g class=\"y-axis\">\n";
  for (double t : ticks) {
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e3e3e3\"/>", num(f.left), num(f.sy(t)),
                       num(f.left + f.width), num(f.sy(t)));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#444\">{}</text>\n", num(f.left - 6),
                       num(f.sy(t) + 4), escape(tick_label(t, step, as_percent)));
  }
  out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#666\"/>\n", num(f.left), num(f.top),
                     num(f.left), num(f.top + f.height));
  const double cy = f.top + f.height / 2;
  out += fmt::format(
      "<text class=\"axis-label\" x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\" "
      "fill=\"#222\">{}</text>\n",
      num(cy), num(cy), escape(fit(label, f.height)));
  return out + "</g>\n";
}

std::string x_axis_title(const Frame& f, double y, const std::string& label) {
  return fmt::format("<text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#222\">{}</text>\n",
                     num(f.left + f.width / 2), num(y), escape(fit(label, f.width)));
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string palette(size_t i) {
  // Okabe & Ito (2008), "Color Universal Design": black, orange, sky blue, bluish green, yellow,
  // blue, vermillion, reddish purple.
  static constexpr std::array<const char*, 8> kColours = {"#000000", "#E69F00", "#56B4E9", "#009E73",
                                                          "#F0E442", "#0072B2", "#D55E00", "#CC79A7"};
  return kColours[i % kColours.size()];
}

std::string method_colour(size_t i) {
  // Strong colours first; yellow (weak on white) last.
  static constexpr std::array<size_t, 8> kOrder = {5, 6, 3, 7, 1, 2, 0, 4};
  return palette(kOrder[i % kOrder.size()]);
}

std::vector<double> nice_ticks(double lo, double hi, size_t count) {
  RETAIN_CHECK(std::isfinite(lo) && std::isfinite(hi), "report", "chart range [{}, {}] is not finite", lo, hi);
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo < 1e-12) {
    const double pad = std::max(std::abs(lo) * 0.1, 0.05);
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / static_cast<double>(std::max<size_t>(count, 1));
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * magnitude;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * magnitude >= raw * (1 - 1e-9)) {
      step = m * magnitude;
      break;
    }
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  for (double k = first; k <= last + 0.5; k += 1) {
    double v = k * step;
    if (std::abs(v) < step * 1e-9) v = 0;
    ticks.push_back(v);
  }
  return ticks;
}

std::string percent(double fraction, int decimals) {
  std::string s = fmt::format("{:.{}f}", fraction * 100.0, std::max(decimals, 0));
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);
  return s;
}

std::string exact(double value) { return fmt::format("{}", value); }

std::string scale_colour(double fraction) {
  // viridis (van der Walt & Smith, matplotlib) at 0, 0.1, ..., 1.
  static constexpr std::array<std::array<int, 3>, 11> kStops = {{{0x44, 0x01, 0x54},
                                                                 {0x48, 0x24, 0x75},
                                                                 {0x41, 0x44, 0x87},
                                                                 {0x35, 0x5f, 0x8d},
                                                                 {0x2a, 0x78, 0x8e},
                                                                 {0x21, 0x91, 0x8c},
                                                                 {0x22, 0xa8, 0x84},
                                                                 {0x44, 0xbf, 0x70},
                                                                 {0x7a, 0xd1, 0x51},
                                                                 {0xbd, 0xdf, 0x26},
                                                                 {0xfd, 0xe7, 0x25}}};
  const double f = std::clamp(std::isfinite(fraction) ? fraction : 0.0, 0.0, 1.0) * 10.0;
  const size_t i = std::min<size_t>(static_cast<size_t>(f), 9);
  const double t = f - static_cast<double>(i);
  std::array<int, 3> c{};
  for (size_t k = 0; k < 3; ++k)
    c[k] = static_cast<int>(std::lround(kStops[i][k] + t * (kStops[i + 1][k] - kStops[i][k])));
  return fmt::format("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
}

std::string bar_chart(const BarChart& c) {
  const size_t n = c.categories.size(), s = c.series.size();
  RETAIN_CHECK(c.colours.size() == s && c.values.size() == n, "report",
               "bar chart \"{}\": {} series with {} colours, {} categories with {} value rows", c.info.title, s,
               c.colours.size(), n, c.values.size());
  double lo = 0, hi = 0;
  for (const auto& row : c.values) {
    RETAIN_CHECK(row.size() == s, "report", "bar chart \"{}\": a category has {} values, expected {}", c.info.title,
                 row.size(), s);
    for (const auto& v : row)
      if (v) lo = std::min(lo, *v), hi = std::max(hi, *v);
  }
  if (hi - lo < 1e-12) hi = lo + 1.0;  // all bars zero or absent: any scale will do
  const auto ticks = nice_ticks(lo, hi, 5);

  std::vector<LegendItem> items;
  for (size_t k = 0; k < s; ++k) items.push_back({c.series[k], c.colours[k], "", false});
  const double left = 60, right = 16;
  double legend_height = 0;
  const std::string legend_svg = legend(items, left, c.width - left - right, 30, legend_height);
  const double group = (c.width - left - right) / static_cast<double>(std::max<size_t>(n, 1));
  double longest = 0;
  for (const auto& name : c.categories) longest = std::max(longest, text_width(fit(name, 140)));
  const bool rotate = longest > group - 6;
  const double label_room = rotate ? longest * 0.6 + 16 : 18;
  const double height = std::max(c.height, 30 + legend_height + 8 + 160 + label_room + 8);
  Frame f{left,
          30 + legend_height + 8,
          c.width - left - right,
          height - (30 + legend_height + 8) - label_room - 8,
          0,
          1,
          ticks.front(),
          ticks.back()};

  std::string out = open_svg(c.info, c.width, height) + legend_svg + y_axis(f, ticks, c.percent, c.y_label);
  const double bar = group * 0.72 / static_cast<double>(std::max<size_t>(s, 1));
  out += "<g class=\"bars\">\n";
  for (size_t i = 0; i < n; ++i) {
    const double gx = f.left + group * static_cast<double>(i) + group * 0.14;
    for (size_t k = 0; k < s; ++k) {
      const double x = gx + bar * static_cast<double>(k);
      const auto& v = c.values[i][k];
      if (!v) {
        out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"9\" fill=\"#777\">n/a</text>\n",
                           num(x + bar / 2), num(f.sy(0) - 3));
        continue;
      }
      const double y = std::min(f.sy(*v), f.sy(0)), h = std::abs(f.sy(*v) - f.sy(0));
      const std::string shown = c.percent ? percent(*v) + "%" : fmt::format("{:.3g}", *v);
      out += fmt::format(
          "<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" "
          "data-category=\"{}\" data-series=\"{}\" data-value=\"{}\"><title>{} {}: {}</title></rect>\n",
          num(x), num(y), num(std::max(bar - 1, 1.0)), num(std::max(h, 0.5)), c.colours[k], escape(c.categories[i]),
          escape(c.series[k]), exact(*v), escape(c.categories[i]), escape(c.series[k]), escape(shown));
      if (bar >= 22)
        out +=
            fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"9\" fill=\"#333\">{}</text>\n",
                        num(x + bar / 2), num(*v >= 0 ? y - 3 : y + h + 10), escape(c.percent ? percent(*v) : shown));
    }
  }
  out += "</g>\n";
  out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#444\"/>\n", num(f.left), num(f.sy(0)),
                     num(f.left + f.width), num(f.sy(0)));
  const double base = f.top + f.height;
  out += "<g class=\"x-axis\">\n";
  for (size_t i = 0; i < n; ++i) {
    const double cx = f.left + group * (static_cast<double>(i) + 0.5);
    const std::string name = escape(fit(c.categories[i], rotate ? 140 : group - 4));
    if (rotate)
      out += fmt::format(
          "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" transform=\"rotate(-35 {} {})\" fill=\"#222\">{}</text>\n",
          num(cx), num(base + 14), num(cx), num(base + 14), name);
    else
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#222\">{}</text>\n", num(cx),
                         num(base + 15), name);
  }
  out += "</g>\n";
  return out + "</svg>\n";
}

std::string line_chart(const LineChart& c) {
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto& line : c.series) {
    RETAIN_CHECK(line.x.size() == line.y.size(), "report", "line chart \"{}\": series \"{}\" has {} x and {} y values",
                 c.info.title, line.name, line.x.size(), line.y.size());
    for (size_t k = 0; k < line.x.size(); ++k) {
      RETAIN_CHECK(std::isfinite(line.x[k]), "report", "line chart \"{}\": series \"{}\" has a non-finite x",
                   c.info.title, line.name);
      xmin = std::min(xmin, line.x[k]), xmax = std::max(xmax, line.x[k]);
      if (line.y[k] && std::isfinite(*line.y[k])) ymin = std::min(ymin, *line.y[k]), ymax = std::max(ymax, *line.y[k]);
    }
  }
  std::vector<double> xticks;
  if (!c.x_tick_labels.empty()) {
    xmin = 0, xmax = static_cast<double>(c.x_tick_labels.size() - 1);
    for (size_t k = 0; k < c.x_tick_labels.size(); ++k) xticks.push_back(static_cast<double>(k));
  } else {
    if (!std::isfinite(xmin)) xmin = 0, xmax = 1;
    xticks = nice_ticks(xmin, xmax, 6);
    xmin = std::min(xmin, xticks.front()), xmax = std::max(xmax, xticks.back());
  }
  if (!std::isfinite(ymin)) ymin = 0, ymax = 1;
  if (c.y_min) ymin = *c.y_min;
  if (c.y_max) ymax = *c.y_max;
  const auto yticks = nice_ticks(ymin, ymax, 5);

  std::vector<LegendItem> items;
  if (c.legend)
    for (const auto& line : c.series) items.push_back({line.name, line.colour, line.dash, true});
  const double left = 58, right = 18;
  double legend_height = 0;
  const std::string legend_svg = legend(items, left, c.width - left - right, 30, legend_height);
  const double top = 30 + legend_height + (legend_height > 0 ? 10 : 6) + (c.markers.empty() ? 0 : 12);
  const double height = std::max(c.height, top + 140 + 48);
  Frame f{left, top, c.width - left - right, height - top - 48, xmin, xmax, yticks.front(), yticks.back()};
  if (xmax - xmin < 1e-12) f.x0 = xmin - 0.5, f.x1 = xmax + 0.5;

  std::string out = open_svg(c.info, c.width, height) + legend_svg + y_axis(f, yticks, c.percent, c.y_label);
  const double base = f.top + f.height;
  const double xstep = xticks.size() > 1 ? xticks[1] - xticks[0] : 1;
  out += "<g class=\"x-axis\">\n";
  out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#666\"/>\n", num(f.left), num(base),
                     num(f.left + f.width), num(base));
  const double label_room = f.width / static_cast<double>(std::max<size_t>(xticks.size(), 1));
  for (size_t k = 0; k < xticks.size(); ++k) {
    const double x = f.sx(xticks[k]);
    const std::string label =
        c.x_tick_labels.empty() ? tick_label(xticks[k], xstep, false) : fit(c.x_tick_labels[k], label_room - 4);
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#666\"/>", num(x), num(base), num(x),
                       num(base + 4));
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#444\">{}</text>\n", num(x),
                       num(base + 16), escape(label));
  }
  out += "</g>\n" + x_axis_title(f, base + 36, c.x_label);

  if (!c.markers.empty()) {
    out += "<g class=\"markers\">\n";
    for (size_t k = 0; k < c.markers.size(); ++k) {
      const double x = f.sx(c.markers[k].x);
      const double next = k + 1 < c.markers.size() ? f.sx(c.markers[k + 1].x) : f.left + f.width + right;
      out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>",
                         num(x), num(f.top - 10), num(x), num(base));
      // The label goes right of the line; left of it when there is no room (a marker at the right edge).
      const std::string& label = c.markers[k].label;
      const bool left_side = text_width(label, 10) > next - x - 6 && x - f.left > next - x;
      out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#555\"{}>{}</text>\n",
                         num(left_side ? x - 3 : x + 3), num(f.top - 2), left_side ? " text-anchor=\"end\"" : "",
                         escape(fit(label, left_side ? x - f.left - 6 : next - x - 6, 10)));
    }
    out += "</g>\n";
  }

  out += "<g class=\"lines\">\n";
  for (const auto& line : c.series) {
    std::string d;
    bool pen = false;
    for (size_t k = 0; k < line.x.size(); ++k) {
      if (!line.y[k] || !std::isfinite(*line.y[k])) {
        pen = false;
        continue;
      }
      d += fmt::format("{}{} {} ", pen ? "L" : "M", num(f.sx(line.x[k])), num(f.sy(*line.y[k])));
      pen = true;
    }
    out += fmt::format(
        "<path class=\"series\" data-series=\"{}\" d=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"2\" stroke-linejoin=\"round\"{}><title>{}</title></path>\n",
        escape(line.name), d.empty() ? "M 0 0" : d.substr(0, d.size() - 1), line.colour,
        line.dash.empty() ? "" : fmt::format(" stroke-dasharray=\"{}\"", line.dash), escape(line.name));
    if (line.markers)
      for (size_t k = 0; k < line.x.size(); ++k)
        if (line.y[k] && std::isfinite(*line.y[k]))
          out += fmt::format(
              "<circle class=\"point\" cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\" data-series=\"{}\" "
              "data-x=\"{}\" data-value=\"{}\"><title>{}: {}</title></circle>\n",
              num(f.sx(line.x[k])), num(f.sy(*line.y[k])), line.colour, escape(line.name), exact(line.x[k]),
              exact(*line.y[k]), escape(line.name),
              escape(c.percent ? percent(*line.y[k]) + "%" : fmt::format("{:.4g}", *line.y[k])));
  }
  out += "</g>\n";
  return out + "</svg>\n";
}

std::string heatmap(const Heatmap& m) {
  const size_t rows = m.row_labels.size(), cols = m.col_labels.size();
  RETAIN_CHECK(rows > 0 && cols > 0 && m.values.size() == rows, "report",
               "heatmap \"{}\": {} row labels, {} column labels, {} value rows", m.info.title, rows, cols,
               m.values.size());
  for (const auto& row : m.values)
    RETAIN_CHECK(row.size() == cols, "report", "heatmap \"{}\": a row has {} values, expected {}", m.info.title,
                 row.size(), cols);
  double row_label_width = 0, col_label_width = 0;
  for (const auto& l : m.row_labels) row_label_width = std::max(row_label_width, text_width(fit(l, 120)));
  for (const auto& l : m.col_labels) col_label_width = std::max(col_label_width, text_width(fit(l, 110)));
  const double cell = std::clamp(300.0 / static_cast<double>(std::max(rows, cols)), 24.0, 52.0);
  const bool rotate = col_label_width > cell - 4;
  const double left = 26 + row_label_width + 8, top = 34;
  const double grid_w = cell * static_cast<double>(cols), grid_h = cell * static_cast<double>(rows);
  const double legend_x = left + grid_w + 16;
  const double width = std::max(legend_x + 58, 240.0);
  const double label_room = rotate ? col_label_width * 0.72 + 14 : 18;
  const double height = top + std::max(grid_h, 130.0) + label_room + 26;

  std::string out = open_svg(m.info, width, height);
  const int decimals = cell >= 44 ? 1 : 0;
  const double font = cell >= 44 ? 10.5 : (cell >= 32 ? 9.5 : 8);
  out += "<g class=\"cells\">\n";
  for (size_t r = 0; r < rows; ++r) {
    for (size_t k = 0; k < cols; ++k) {
      const double x = left + cell * static_cast<double>(k), y = top + cell * static_cast<double>(r);
      const auto& v = m.values[r][k];
      const std::string tip =
          fmt::format("{} / {}: {}", m.row_labels[r], m.col_labels[k], v ? percent(*v) + "%" : "n/a");
      if (!v) {
        out += fmt::format(
            "<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#dddddd\" "
            "stroke=\"#fff\" data-row=\"{}\" data-col=\"{}\"><title>{}</title></rect>\n",
            num(x), num(y), num(cell), num(cell), r, k, escape(tip));
        continue;
      }
      out += fmt::format(
          "<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#fff\" "
          "data-row=\"{}\" data-col=\"{}\" data-value=\"{}\"><title>{}</title></rect>",
          num(x), num(y), num(cell), num(cell), scale_colour(*v), r, k, exact(*v), escape(tip));
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{}\" fill=\"{}\">{}</text>\n",
                         num(x + cell / 2), num(y + cell / 2 + font * 0.35), font, *v < 0.6 ? "#ffffff" : "#111111",
                         percent(*v, decimals));
    }
  }
  for (const auto& [r, k] : m.outlined)
    if (r < rows && k < cols)
      out += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#111\" "
          "stroke-width=\"2\"/>\n",
          num(left + cell * static_cast<double>(k) + 1), num(top + cell * static_cast<double>(r) + 1), num(cell - 2),
          num(cell - 2));
  out += "</g>\n<g class=\"labels\">\n";
  for (size_t r = 0; r < rows; ++r)
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#222\">{}</text>\n", num(left - 6),
                       num(top + cell * (static_cast<double>(r) + 0.5) + 4), escape(fit(m.row_labels[r], 120)));
  const double base = top + grid_h;
  for (size_t k = 0; k < cols; ++k) {
    const double cx = left + cell * (static_cast<double>(k) + 0.5);
    const std::string name = escape(fit(m.col_labels[k], rotate ? 110 : cell));
    if (rotate)
      out += fmt::format(
          "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" transform=\"rotate(-40 {} {})\" fill=\"#222\">{}</text>\n",
          num(cx), num(base + 12), num(cx), num(base + 12), name);
    else
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#222\">{}</text>\n", num(cx),
                         num(base + 14), name);
  }
  const double cy = top + grid_h / 2;
  out += fmt::format(
      "<text class=\"axis-label\" x=\"12\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {})\" "
      "fill=\"#222\">{}</text>\n",
      num(cy), num(cy), escape(fit(m.row_title, grid_h + 40)));
  out += fmt::format("<text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#222\">{}</text>\n",
                     num(left + grid_w / 2), num(base + label_room + 14), escape(fit(m.col_title, width - left)));
  out += "</g>\n";

  // The colour legend: ten discrete steps from 100% (top) to 0% (bottom).
  const double lh = std::max(grid_h, 130.0), step = lh / 10;
  out += "<g class=\"colour-legend\">\n";
  for (int k = 0; k < 10; ++k)
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"{}\" fill=\"{}\"/>", num(legend_x),
                       num(top + step * k), num(step + 0.5), scale_colour(1.0 - (k + 0.5) / 10.0));
  for (int k = 0; k <= 4; ++k)
    out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"9\" fill=\"#444\">{}%</text>", num(legend_x + 16),
                       num(top + lh * k / 4.0 + 3), 100 - 25 * k);
  out += "\n</g>\n";
  return out + "</svg>\n";
}

}  // namespace retain::svg
