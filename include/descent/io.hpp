#pragma once
// Saving and loading models, and writing files so that a crash never leaves a half-written
// one: every writer goes through a temporary file, fsync and rename.

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/loss.hpp"
#include "descent/network.hpp"
#include "descent/train.hpp"

namespace descent {

// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, then
// rename over `path`. A symbolic link is followed (the file it names is replaced, the link
// stays), except one another user left in a sticky world-writable directory, which the
// kernel would not follow either; a file replaced keeps its permissions and, where the
// process may set it, its owner. /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N
// are written to that descriptor; a character device or a named pipe (/dev/null, a FIFO
// being read) is written in place; any other file that is not a regular one is refused. Throws
// descent::Error naming the path (e.g. a missing directory).
void write_file_atomically(const std::filesystem::path& path, std::span<const char> bytes);
// Async-signal-safe: removes the temporary file that a write_file_atomically in progress is
// writing (when none is, does nothing), so that a program ended by a signal leaves no partial
// file beside its output. For a handler that then ends the process.
void remove_partial_output() noexcept;
// Throws descent::Error, with the reason alone (no path), when write_file_atomically(path)
// would fail for what `path` names: a missing directory, a directory in the way, a link it
// may not follow, a name too long, a directory where no file can be created (a temporary
// file is created there and removed), a descriptor not open, an existing file without write
// permission (read-only, or another user's: the rename would replace it, but that file was
// protected). Lets a program check its outputs before hours of work.
void check_output_file(const std::filesystem::path& path);
// Why `path`, given for reading, is not a file: empty when it is a regular file (after
// links). Otherwise what follows its name in a message: "does not exist", "is not a regular
// file (a directory or a device)", "is a link to a file that does not exist", or what kept the
// system from reaching it ("cannot be reached: Too many levels of symbolic links", for a loop
// of links; "... Permission denied", for a directory it may not search).
std::string why_not_a_regular_file(const std::filesystem::path& path);
// Where write_file_atomically(path) writes: absolute, links followed (a dangling one too: the
// write creates the file it names), the directory canonical; a descriptor's name as given.
// Two spellings of one new file give the same path. Throws descent::Error as
// check_output_file does for what cannot be written (without creating anything).
std::filesystem::path output_destination(const std::filesystem::path& path);

// The model file (little-endian): magic "DESCENTM", format version, layer sizes and
// activations, the loss it was trained with, the input standardisation, the parameters, and
// a CRC-32 of everything before it.
void save_network(const std::filesystem::path& path, const Network& network,
                  std::optional<Loss> loss = std::nullopt);

// The model file's bytes, for embedding (checkpoints) or sending elsewhere.
std::vector<char> model_bytes(const Network& network, std::optional<Loss> loss = std::nullopt);

struct LoadedModel {
  Network network;
  std::optional<Loss> loss;
};
// Reads a model file back; rejects a wrong, truncated or corrupted file with descent::Error.
LoadedModel load_model(const std::filesystem::path& path);
Network load_network(const std::filesystem::path& path);
// The same, from bytes in memory (`name` stands for the file in messages).
LoadedModel parse_model(std::span<const char> bytes, std::string_view name);

// A network's parameters as a flat little-endian float32 file in nn.Linear order (per layer:
// weight [out, in] row-major, then bias [out]) -- the file tools/torch_convert.py reads and
// writes for a torch.nn.Sequential of Linear layers. load_parameters throws descent::Error
// unless the file holds exactly parameter_count() floats, all finite.
void save_parameters(const std::filesystem::path& path, const Network& network);
void load_parameters(const std::filesystem::path& path, Network& network);

// The per-epoch history as CSV: epoch,step,train_loss,val_loss,val_accuracy,grad_norm,lr,
// seconds,samples_per_second, grad_norm_layer1..L, weight_norm_layer1..L, stop_reason (on
// the epoch training stopped in). A NaN (no validation, regression accuracy) is an empty cell.
void write_history_csv(const std::filesystem::path& path, const std::vector<EpochRecord>& history);

}  // namespace descent
