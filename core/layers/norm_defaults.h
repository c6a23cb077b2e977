// Defaults the normalisation layers share (batch norm, layer norm): one value,
// so an unset epsilon means the same in both.
#ifndef TRAINYARD_CORE_LAYERS_NORM_DEFAULTS_H_
#define TRAINYARD_CORE_LAYERS_NORM_DEFAULTS_H_

namespace trainyard {

// Added to the variance before the square root when the spec leaves
// epsilon unset.
inline constexpr float kDefaultNormEpsilon = 1e-5f;

}  // namespace trainyard

#endif  // TRAINYARD_CORE_LAYERS_NORM_DEFAULTS_H_
