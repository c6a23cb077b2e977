// Helpers for trainer tests: a trainer's weights and layer state as values,
// for bit-exact comparisons with EXPECT_EQ.
#ifndef TRAINYARD_TESTS_TESTING_TRAINER_STATE_H_
#define TRAINYARD_TESTS_TESTING_TRAINER_STATE_H_

#include <vector>

#include "core/trainer.h"

namespace trainyard::testing {

inline std::vector<Scalar> Params(const Trainer& t) {
  return {t.model().params(), t.model().params() + t.model().num_params()};
}

inline std::vector<Scalar> LayerState(const Trainer& t) {
  return {t.model().state(), t.model().state() + t.model().num_state()};
}

}  // namespace trainyard::testing

#endif  // TRAINYARD_TESTS_TESTING_TRAINER_STATE_H_
