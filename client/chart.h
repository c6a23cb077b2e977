// A terminal line chart (the live loss chart of `jobs watch`): lines drawn in
// Braille dots, so each text cell resolves 2x4 positions and a 6-row chart
// 24 levels; sparse series as markers over them; axes on the left and below.
#ifndef TRAINYARD_CLIENT_CHART_H_
#define TRAINYARD_CLIENT_CHART_H_

#include <string>
#include <vector>

namespace trainyard::client {

// TensorBoard's smoothing: an exponential moving average with weight `weight`
// in [0, 1) (0: the values unchanged), debiased so the first values are not
// pulled towards 0. Non-finite values pass through and do not enter the average.
std::vector<double> Smooth(const std::vector<double>& values, double weight);

// A series of (x, y) points for RenderLineChart.
struct ChartSeries {
  std::vector<double> x, y;  // same length; non-finite points are skipped
  // Empty: drawn as a line in Braille dots (2x4 per cell) joining the points
  // (those that fall in one dot column averaged into one).
  // Otherwise each point is this one-column character (e.g. "●"), drawn over
  // the lines: a sparse series (one point per epoch) stays readable.
  std::string marker;
};

// A line chart with axes: `height` rows of a y label (9 characters: the top
// row the maximum, the middle the midpoint, the bottom the minimum) then
// "┤" on labelled rows and "│" otherwise, then `width` cells; then the x
// axis "└───" and a row with the x minimum at the left and the maximum at
// the right. Both axes span every series. No finite point (or width or
// height < 1): no rows.
std::vector<std::string> RenderLineChart(const std::vector<ChartSeries>& series,
                                         int width, int height);

}  // namespace trainyard::client

#endif  // TRAINYARD_CLIENT_CHART_H_
