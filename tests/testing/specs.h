// Helpers for tests: specs from JSON and small in-memory datasets.
#ifndef TRAINYARD_TESTS_TESTING_SPECS_H_
#define TRAINYARD_TESTS_TESTING_SPECS_H_

#include <cmath>
#include <memory>
#include <numbers>
#include <string>

#include "core/dataset.h"
#include "core/rng.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "trainyard/v1/model.pb.h"
#include "trainyard/v1/training.pb.h"

namespace trainyard::testing {

template <typename Message>
Message FromJson(const std::string& json) {
  Message m;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return m;
}

// The four XOR points, labels as classes {0, 1} (or signs {-1, +1}).
inline std::shared_ptr<const Dataset> XorDataset(bool signs) {
  Matrix x(2, 4);
  x << 0, 0, 1, 1,
       0, 1, 0, 1;
  Matrix y(1, 4);
  if (signs) {
    y << -1, 1, 1, -1;
  } else {
    y << 0, 1, 1, 0;
  }
  return std::make_shared<const Dataset>(x, y, true, v1::PREPROCESSING_NONE);
}

// n points of y = sin(x) for x evenly spread over [-pi, pi].
inline std::shared_ptr<const Dataset> SinDataset(int n) {
  Matrix x(1, n), y(1, n);
  for (int i = 0; i < n; ++i) {
    const double v = -std::numbers::pi + 2 * std::numbers::pi * i / (n - 1);
    x(0, i) = static_cast<Scalar>(v);
    y(0, i) = static_cast<Scalar>(std::sin(v));
  }
  return std::make_shared<const Dataset>(x, y, false, v1::PREPROCESSING_NONE);
}

// A noisy 3-class problem in `dims` dimensions: class c has its mean at
// +3 on axis c. Deterministic for a seed.
inline std::shared_ptr<const Dataset> BlobsDataset(int n, int dims, uint64_t seed) {
  Rng rng(seed);
  Matrix x(dims, n), y(1, n);
  for (int i = 0; i < n; ++i) {
    const int c = i % 3;
    for (int d = 0; d < dims; ++d) {
      x(d, i) = static_cast<Scalar>(rng.Normal() + (d == c ? 3.0 : 0.0));
    }
    y(0, i) = static_cast<Scalar>(c);
  }
  return std::make_shared<const Dataset>(x, y, true, v1::STANDARDIZE);
}

}  // namespace trainyard::testing

#endif  // TRAINYARD_TESTS_TESTING_SPECS_H_
