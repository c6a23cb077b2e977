// Scalar and matrix types of the training core.
//
// Layout: a mini-batch is a column-major matrix of shape (features, batch), so
// each sample is one contiguous column and a dense layer is Y = W X.
//
// The core is compiled twice: in float for training (trainyard_core) and in
// double (trainyard_core_f64, TRAINYARD_SCALAR_DOUBLE) for the finite-difference
// gradient checks, which need the extra precision to be tight.
#ifndef TRAINYARD_CORE_TENSOR_H_
#define TRAINYARD_CORE_TENSOR_H_

#include <Eigen/Core>

namespace trainyard {

#ifdef TRAINYARD_SCALAR_DOUBLE
using Scalar = double;
#else
using Scalar = float;
#endif

using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
using MatrixMap = Eigen::Map<Matrix>;
using ConstMatrixMap = Eigen::Map<const Matrix>;
using VectorMap = Eigen::Map<Vector>;
using ConstVectorMap = Eigen::Map<const Vector>;

}  // namespace trainyard

#endif  // TRAINYARD_CORE_TENSOR_H_
