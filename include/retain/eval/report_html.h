// retain/eval/report_html.h — renders a RunReport (eval/report.h, which describes the page) as one
// self-contained HTML page: inline CSS and SVG (svg_chart.h), no script, font or network access.
#pragma once

#include <string>

namespace retain {

struct RunReport;

/// The HTML page (UTF-8). Deterministic: the same RunReport always gives the same bytes.
std::string render_report_html(const RunReport& report);

}  // namespace retain
