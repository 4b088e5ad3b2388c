#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "descent/error.hpp"
#include "descent/io.hpp"

namespace descent {

namespace {

// The file a write to `path` lands in: `path`, or the file its symbolic links lead to (a link
// is followed, not replaced by a file).
std::filesystem::path follow_links(const std::filesystem::path& path) {
  std::filesystem::path p = path;
  for (int hops = 0; hops < 40; ++hops) {
    std::error_code ec;
    if (!std::filesystem::is_symlink(std::filesystem::symlink_status(p, ec))) return p;
    const std::filesystem::path target = std::filesystem::read_symlink(p, ec);
    if (ec) {
      throw Error(fmt::format("cannot write \"{}\": cannot read the link \"{}\": {}", path.string(),
                              p.string(), ec.message()));
    }
    p = target.is_absolute() ? target : p.parent_path() / target;
  }
  throw Error(fmt::format("cannot write \"{}\": too many levels of symbolic links", path.string()));
}

// Writes every byte, retrying after signals; false (with errno set) when a write fails.
bool write_all(int fd, std::span<const char> bytes) {
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    written += static_cast<std::size_t>(n);
  }
  return true;
}

// A character device (/dev/null, a terminal) or a named pipe is written where it is: renaming
// a file over it would replace the device or the pipe with an ordinary file.
void write_in_place(const std::filesystem::path& path, bool pipe, std::span<const char> bytes) {
  // A pipe nobody reads would block the open forever: refuse it instead.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | (pipe ? O_NONBLOCK : 0));
  if (fd < 0) {
    const int err = errno;
    throw Error(
        fmt::format("cannot write \"{}\": {}", path.string(),
                    pipe && err == ENXIO ? "no process is reading that pipe" : std::strerror(err)));
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (pipe && flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  const bool ok = write_all(fd, bytes);
  const int err = errno;
  ::close(fd);
  if (!ok) {
    throw Error(
        fmt::format("cannot write \"{}\": write failed: {}", path.string(), std::strerror(err)));
  }
}

}  // namespace

void write_file_atomically(const std::filesystem::path& requested, std::span<const char> bytes) {
  if (requested.empty()) throw Error("cannot write a file with an empty name");
  const std::string name = requested.string();  // the name the caller gave, for messages
  // Devices and pipes first, through the kernel's own view of the links: /dev/stdout's chain
  // ends in a name like "pipe:[1234]" that is no path.
  struct stat old {};
  if (::stat(requested.c_str(), &old) == 0 && (S_ISCHR(old.st_mode) || S_ISFIFO(old.st_mode))) {
    write_in_place(requested, S_ISFIFO(old.st_mode), bytes);
    return;
  }
  const std::filesystem::path path = follow_links(requested);
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw Error(
        fmt::format("cannot write \"{}\": directory \"{}\" does not exist", name, dir.string()));
  }
  const bool exists = ::stat(path.c_str(), &old) == 0;
  if (exists && S_ISDIR(old.st_mode))
    throw Error(fmt::format("cannot write \"{}\": it is a directory", name));
  if (exists && !S_ISREG(old.st_mode)) {
    throw Error(
        fmt::format("cannot write \"{}\": it is not a regular file (a block device or "
                    "a socket)",
                    name));
  }

  // open(O_EXCL) with mode 0666 rather than mkstemp (0600): the file gets the permissions
  // an ordinary new file gets under the process's umask.
  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    // A short name of its own: the target's name may already be as long as names get.
    tmp = (dir / fmt::format(".descent-{}-{}.tmp", ::getpid(), counter.fetch_add(1))).string();
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    throw Error(fmt::format("cannot write \"{}\": cannot create a temporary file in \"{}\": {}",
                            name, dir.string(), std::strerror(errno)));
  }
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(fmt::format("cannot write \"{}\": {}: {}", name, what, std::strerror(err)));
  };
  // A file that is replaced keeps its owner and permissions (a 0600 model stays 0600). The
  // owner only where this process may set it (root); the mode after it, which chown clears.
  if (exists) {
    if (old.st_uid != ::geteuid() || old.st_gid != ::getegid())
      (void)::fchown(fd, old.st_uid, old.st_gid);
    if (::fchmod(fd, old.st_mode & 07777) != 0) fail("cannot keep the file's permissions");
  }
  if (!write_all(fd, bytes)) fail("write failed");
  if (::fsync(fd) != 0) fail("fsync failed");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(fmt::format("cannot write \"{}\": close failed: {}", name, std::strerror(err)));
  }
  // For the crash test: die between writing the new file and putting it in place.
  if (std::getenv("DESCENT_TEST_CRASH_BEFORE_RENAME") != nullptr) std::raise(SIGKILL);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(fmt::format("cannot write \"{}\": rename failed: {}", name, std::strerror(err)));
  }
  // Make the rename itself durable; a failure here loses nothing already written.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void write_history_csv(const std::filesystem::path& path, const std::vector<EpochRecord>& history) {
  auto cell = [](double v) { return std::isnan(v) ? std::string() : fmt::format("{}", v); };
  const std::size_t layers = history.empty() ? 0 : history.front().layer_grad_norms.size();
  std::string text =
      "epoch,step,train_loss,val_loss,val_accuracy,grad_norm,lr,seconds,samples_per_second";
  for (std::size_t l = 1; l <= layers; ++l) text += fmt::format(",grad_norm_layer{}", l);
  for (std::size_t l = 1; l <= layers; ++l) text += fmt::format(",weight_norm_layer{}", l);
  text += ",stop_reason\n";
  for (const EpochRecord& r : history) {
    text += fmt::format("{},{},{},{},{},{},{},{},{}", r.epoch, r.step, cell(r.train_loss),
                        cell(r.val_loss), cell(r.val_accuracy), cell(r.grad_norm), cell(r.lr),
                        cell(r.seconds), cell(r.samples_per_second));
    for (const auto* norms : {&r.layer_grad_norms, &r.layer_weight_norms}) {
      for (std::size_t l = 0; l < layers; ++l) {
        text += ',';
        if (l < norms->size()) text += cell((*norms)[l]);
      }
    }
    text += fmt::format(",{}\n", r.stop_reason ? to_string(*r.stop_reason) : "");
  }
  write_file_atomically(path, std::span<const char>(text.data(), text.size()));
}

}  // namespace descent
