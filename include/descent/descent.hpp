#pragma once
// Everything public in one include.

#include "descent/activation.hpp"
#include "descent/data.hpp"
#include "descent/error.hpp"
#include "descent/io.hpp"
#include "descent/kernels.hpp"
#include "descent/loss.hpp"
#include "descent/matrix.hpp"
#include "descent/network.hpp"
#include "descent/optim/sgd.hpp"
#include "descent/optimizer.hpp"
#include "descent/parallel.hpp"
#include "descent/rng.hpp"
#include "descent/spec.hpp"
#include "descent/standardization.hpp"
#include "descent/train.hpp"
