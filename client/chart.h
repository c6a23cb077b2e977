// A tiny terminal line chart of a series (the training loss), drawn with the
// Unicode lower-block characters ▁▂▃▄▅▆▇█: each column is a bar, each text
// row holds eight height levels, so a 6-row chart resolves 48 levels.
#ifndef TRAINYARD_CLIENT_CHART_H_
#define TRAINYARD_CLIENT_CHART_H_

#include <string>
#include <vector>

namespace trainyard::client {

// Rows of the chart, top first. Each row is a 10-character y label (the
// maximum on the top row, the minimum on the bottom row if there are two or
// more rows, blanks between)
// followed by "│" and one cell per column. More values than `width` are
// averaged into `width` equal buckets; fewer give one column each. The minimum
// is drawn as one level (▁), the maximum as a full column; a constant series
// is drawn at half height. Non-finite values are skipped. Empty series (or
// width/height < 1): no rows.
std::vector<std::string> RenderChart(const std::vector<double>& values,
                                     int width, int height);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_CHART_H_
