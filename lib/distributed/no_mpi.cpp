// descent::mpi in a build without MPI (DESCENT_MPI=OFF): says so.

#include <cstdlib>

#include "descent/distributed.hpp"
#include "descent/error.hpp"

namespace descent::mpi {

bool available() noexcept {
  return false;
}

Session::Session() {
  throw Error(
      "this descent was built without MPI: configure it with -DDESCENT_MPI=ON (Debian: "
      "libopenmpi-dev and openmpi-bin) to train across processes");
}

Session::~Session() = default;

std::shared_ptr<Communicator> Session::world() const {
  return world_;
}

void abort(int status) noexcept {
  std::_Exit(status);
}

}  // namespace descent::mpi
